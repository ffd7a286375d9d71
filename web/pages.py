"""Read-only pages: the case list of a campaign and one case's page; friendly error pages."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException

from workflow import queries
from workflow.clock import LOCAL_TZ, utcnow
from workflow.errors import NotFound, NotPermitted

bp = Blueprint("pages", __name__)


def _now() -> dt.datetime:
    """Now, or the end of ``?as_of=YYYY-MM-DD`` (local) to read an old campaign as it stood then."""
    raw = request.args.get("as_of", "").strip()
    if raw:
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            abort(400)
        return dt.datetime.combine(day, dt.time(23, 59), LOCAL_TZ).astimezone(dt.UTC)
    return utcnow()


@bp.route("/")
@login_required
def index():
    campaigns = queries.campaigns_visible_to(current_user)
    wanted = request.args.get("campaign")
    campaign = next((c for c in campaigns if c.key == wanted), campaigns[0] if campaigns else None)
    if wanted and (campaign is None or campaign.key != wanted):
        abort(404)
    rows = queries.case_rows(current_user, campaign, _now()) if campaign else []
    return render_template("cases.html", campaigns=campaigns, campaign=campaign, rows=rows,
                           as_of=request.args.get("as_of", ""))


@bp.route("/cases/<int:case_id>")
@login_required
def case(case_id: int):
    found = queries.visible_case(current_user, case_id)
    if found is None:
        # the same answer for "missing" and "not yours": a case's existence is not disclosed
        abort(404)
    return render_template("case.html", d=queries.case_detail(found, _now()))


@bp.app_errorhandler(NotFound)
def _domain_not_found(_exc):
    return render_template("error.html", code=404, message=_("This page does not exist.")), 404


@bp.app_errorhandler(NotPermitted)
def _domain_forbidden(exc):
    return render_template("error.html", code=403, message=exc.message), 403


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    messages = {
        400: _("The request was not understood."),
        403: _("You may not see this page."),
        404: _("This page does not exist."),
        405: _("This action is not allowed here."),
    }
    if exc.code not in messages:
        return exc
    return render_template("error.html", code=exc.code, message=messages[exc.code]), exc.code


@bp.app_errorhandler(500)
def _server_error(_exc):
    # bare: no database access while rendering, the database may be what failed
    return render_template("error.html", code=500, bare=True,
                           message=_("Something went wrong on our side. Please try again later.")), 500
