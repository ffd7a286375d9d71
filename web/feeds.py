"""Private iCal feeds: ``/ical/<token>.ics`` (no login, the token is the secret) and ``flask feeds``."""

from __future__ import annotations

import click
from flask import Blueprint, Response, abort, current_app

from models import db
from notifications import feeds
from workflow.clock import utcnow

from .cli.common import actor_by_email, fail

bp = Blueprint("feeds", __name__, cli_group="feeds")


@bp.get("/ical/<token>.ics")
def ical(token: str):
    """The token owner's open deadlines; unknown or revoked token -> 404 (no hint which)."""
    user = feeds.user_for_token(token)
    if user is None:
        abort(404)
    body = feeds.feed_for(user, now=utcnow(), base_url=current_app.config.get("PUBLIC_BASE_URL", ""))
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.cli.command("issue")
@click.argument("email")
@click.option("--by", "by_email", default=None, help="e-mail of the operator (recorded in the audit log)")
def issue_command(email: str, by_email: str | None):
    """Issue a new private feed URL for EMAIL (revokes the previous one) and print it once."""
    user = actor_by_email(email)
    actor = actor_by_email(by_email) if by_email else None
    token = feeds.issue_token(user, actor=actor, now=utcnow())
    db.session.commit()
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    click.echo(f"{base}/ical/{token}.ics")


@bp.cli.command("revoke")
@click.argument("email")
@click.option("--by", "by_email", default=None, help="e-mail of the operator (recorded in the audit log)")
def revoke_command(email: str, by_email: str | None):
    """Revoke every feed URL of EMAIL."""
    user = actor_by_email(email)
    actor = actor_by_email(by_email) if by_email else None
    count = feeds.revoke_tokens(user, actor=actor, now=utcnow())
    db.session.commit()
    if count == 0:
        fail(f"{email} has no live feed URL")
    click.echo(f"revoked {count} feed URL(s) of {email}")
