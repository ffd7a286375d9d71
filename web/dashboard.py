"""The campaign dashboard page: per stage, cases on track, due soon, overdue and done, linked to the board."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from states import COUNCIL_ROLES
from workflow import access
from workflow import dashboard as dash

from .board import stage_title
from .common import now, roles_required
from .i18n import select_locale

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

readers_only = roles_required(*access.CAMPAIGN_WIDE_READERS, *COUNCIL_ROLES)

BUCKET_TITLES = {
    dash.ON_TRACK: _l("On track"),
    dash.DUE_SOON: _l("Due soon"),
    dash.OVERDUE: _l("Overdue"),
    dash.DONE: _l("Done"),
    dash.NO_DEADLINE: _l("No deadline"),
    dash.NOT_REACHED: _l("Not reached yet"),
}


def board_link(campaign_key: str, stage: str, bucket: str, as_of: str, today: dt.date, soon_until: dt.date) -> str:
    """The board view that lists a dashboard count's cases (or the nearest view the board offers).

    Overdue is the board's own filter (same cases); due soon and on track are the table narrowed to the
    stage and the same window of binding due dates (same cases), earliest due first; no deadline is the
    table narrowed to the stage's cases without a deadline of it; done and not reached are the table of the
    cases past the stage or before it (all of them the same cases as the count)."""
    common = {"campaign": campaign_key, "as_of": as_of or None}
    if bucket == dash.OVERDUE:
        return url_for("board.board", stage=stage, overdue=1, **common)
    if bucket == dash.DUE_SOON:
        return url_for("board.table", stage=stage, due_from=today.isoformat(), due_to=soon_until.isoformat(),
                       sort="due", **common)
    if bucket == dash.ON_TRACK:
        return url_for("board.table", stage=stage, due_from=(soon_until + dt.timedelta(days=1)).isoformat(),
                       sort="due", **common)
    if bucket == dash.NO_DEADLINE:
        return url_for("board.table", stage=stage, no_deadline=1, **common)
    if bucket == dash.DONE:
        return url_for("board.table", past_stage=stage, sort="stage", dir="desc", **common)
    return url_for("board.table", before_stage=stage, sort="stage", **common)  # not reached


@bp.route("")
@readers_only
def index():
    campaigns, campaign = dash.pick_campaign(current_user, request.args.get("campaign"))
    default = current_app.config.get("DASHBOARD_DUE_SOON_WORKING_DAYS", dash.DEFAULT_DUE_SOON_WORKING_DAYS)
    days = dash.parse_due_soon(request.args.get("due_soon"), default)
    built = dash.build(campaign, now(), days) if campaign else None
    return render_template(
        "dashboard/index.html", campaigns=campaigns, campaign=campaign, dashboard=built, due_soon=days,
        as_of=request.args.get("as_of", ""), buckets=dash.BUCKETS, bucket_titles=BUCKET_TITLES,
        stage_title=stage_title, board_link=board_link, vi=select_locale() == "vi",
        may_see_board=bool(current_user.roles & access.CAMPAIGN_WIDE_READERS),
        may_roll_over=bool(current_user.roles & access.SECRETARIAT_WRITERS))
