"""One's own account: language, password, the private calendar-feed link of one's deadlines, API tokens."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from models import CalendarFeedToken, db
from notifications import feeds
from workflow import api_tokens, users
from workflow.errors import InvalidInput, NotFound
from workflow.txn import commit

from .admin import ROLE_LABELS
from .common import action_now

bp = Blueprint("account", __name__, url_prefix="/account")


def _live_feed_links() -> int:
    return db.session.scalar(select(func.count(CalendarFeedToken.id)).where(
        CalendarFeedToken.user_id == current_user.id, CalendarFeedToken.revoked_at.is_(None))) or 0


def _page(status: int = 200, **extra):
    roles = ", ".join(str(ROLE_LABELS.get(r, r)) for r in sorted(current_user.roles))
    return render_template("account/index.html", live_links=_live_feed_links(), roles=roles,
                           tokens=api_tokens.tokens_of(current_user), **extra), status


@bp.get("")
@login_required
def index():
    return _page()


@bp.post("/language")
@login_required
def language():
    try:
        users.set_own_locale(current_user, request.form.get("locale", ""), now=action_now())
    except InvalidInput as exc:
        db.session.rollback()
        return _page(400, errors={"locale": exc.errors.get("locale", [exc.message])})
    commit()
    session["lang"] = current_user.locale
    flash(_("Saved: pages and e-mails will be in this language."), "success")
    return redirect(url_for("account.index"), code=303)


@bp.post("/password")
@login_required
def password():
    new, repeat = request.form.get("new", ""), request.form.get("repeat", "")
    if new != repeat:
        return _page(400, errors={"repeat": [_("the two new passwords differ")]})
    try:
        users.change_own_password(current_user, request.form.get("current", ""), new, now=action_now())
    except InvalidInput as exc:
        db.session.rollback()
        return _page(400, errors=exc.errors or {"new": [exc.message]})
    commit()
    flash(_("Your password was changed."), "success")
    return redirect(url_for("account.index"), code=303)


@bp.post("/calendar")
@login_required
def calendar_link():
    """A new private link (any earlier one stops working); shown once, only its hash is stored."""
    token = feeds.issue_token(current_user, actor=current_user, now=action_now())
    commit()
    base = (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")
    response = current_app.make_response(_page(new_link=base + url_for("feeds.ical", token=token)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/calendar/revoke")
@login_required
def revoke_calendar_link():
    feeds.revoke_tokens(current_user, actor=current_user, now=action_now())
    commit()
    flash(_("Your calendar link no longer works."), "success")
    return redirect(url_for("account.index"), code=303)


@bp.post("/api-tokens")
@login_required
def create_api_token():
    """A new named API token, shown once on the page that answers (never cached, only its hash kept)."""
    try:
        row, raw = api_tokens.create_token(current_user, request.form.get("name", ""), now=action_now())
    except InvalidInput as exc:
        db.session.rollback()
        return _page(400, errors=exc.errors or {"name": [exc.message]}, token_name=request.form.get("name", ""))
    commit()
    response = current_app.make_response(_page(new_token=raw, new_token_name=row.name))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api-tokens/<int:token_id>/revoke")
@login_required
def revoke_api_token(token_id: int):
    try:
        api_tokens.revoke_token(current_user, token_id, now=action_now())
    except NotFound:
        abort(404)
    commit()
    flash(_("The API token no longer works."), "success")
    return redirect(url_for("account.index"), code=303)
