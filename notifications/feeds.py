"""Private iCal feeds: one revocable token per user, the deadlines that concern that user.

The token is the secret of the URL ``/ical/<token>.ics``; the database keeps only its SHA-256,
so a leaked database backup does not leak working feed URLs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import or_, select, update

from models import CalendarFeedToken, Campaign, CampaignStaff, Case, CouncilSeat, Deadline, User, db
from states import Role, Stage
from workflow import audit, deadlines

from . import ics
from .render import case_url, locale_of, stage_title


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(user: User, *, actor: User | None, now: dt.datetime) -> str:
    """A new feed token for ``user`` (earlier ones are revoked); returns the raw token, shown once."""
    revoke_tokens(user, actor=actor, now=now, audit_it=False)
    token = secrets.token_urlsafe(32)
    db.session.add(CalendarFeedToken(user_id=user.id, token_sha256=_digest(token), created_at=now))
    audit.record("feed.token_issued", actor=actor, now=now, subject=user.email, after={"user_id": user.id})
    return token


def revoke_tokens(user: User, *, actor: User | None, now: dt.datetime, audit_it: bool = True) -> int:
    """Revoke every live token of ``user``; their URLs answer 404 from now on."""
    result = db.session.execute(
        update(CalendarFeedToken)
        .where(CalendarFeedToken.user_id == user.id, CalendarFeedToken.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False))
    count = result.rowcount or 0
    if audit_it and count:
        audit.record("feed.token_revoked", actor=actor, now=now, subject=user.email,
                     after={"user_id": user.id, "revoked": count})
    return count


def user_for_token(token: str) -> User | None:
    """The active user a live token belongs to, or None (unknown, revoked, disabled user)."""
    if not token or len(token) > 200:
        return None
    row = db.session.scalar(select(CalendarFeedToken).where(
        CalendarFeedToken.token_sha256 == _digest(token), CalendarFeedToken.revoked_at.is_(None)))
    if row is None or not row.user.is_active:
        return None
    return row.user


def deadlines_for(user: User) -> list[Deadline]:
    """Open deadlines that concern ``user``: their commune's, their campaigns' as staff, sign-offs as council."""
    stmt = (select(Deadline).join(Case, Case.id == Deadline.case_id)
            .where(Deadline.completed_at.is_(None)).order_by(Deadline.due, Deadline.id))
    conditions = []
    roles = user.roles
    if user.commune_id is not None and roles & {Role.commune_officer, Role.commune_chair}:
        conditions.append(Case.commune_id == user.commune_id)
    staff_campaigns = select(CampaignStaff.campaign_id).where(CampaignStaff.user_id == user.id)
    conditions.append(Case.campaign_id.in_(staff_campaigns))
    council_campaigns = select(CouncilSeat.campaign_id).where(CouncilSeat.user_id == user.id)
    conditions.append((Case.campaign_id.in_(council_campaigns)) & (Deadline.stage == Stage.council_meeting.value))
    return list(db.session.scalars(stmt.where(or_(*conditions))))


def feed_for(user: User, *, now: dt.datetime, base_url: str) -> str:
    """The user's deadlines as a VCALENDAR (no METHOD: a subscribed feed, not an invitation)."""
    locale = locale_of(user.locale)
    events = []
    campaigns: dict[int, Campaign] = {}
    for row in deadlines_for(user):
        case = row.case
        campaigns.setdefault(case.campaign_id, case.campaign)
        title = stage_title(row.stage, locale)
        url = case_url(base_url, case.id)
        summary = (f"Hạn {title} — {case.commune.name}" if locale == "vi"
                   else f"Due: {title} — {case.commune.name}")
        explained = deadlines.explain(row, deadlines.calendar_of(case.campaign))
        explanation = explained.explanation_vi if locale == "vi" else explained.explanation
        events.append(ics.DeadlineEvent(uid=ics.deadline_uid(row.id, case.id, row.stage), due=row.due,
                                        summary=summary, description="\n".join(
                                            x for x in (explanation, url) if x), url=url))
    name = "Hạn chót CCHC" if locale == "vi" else "PAR Index deadlines"
    return ics.calendar(events, now=now, name=name, method=None)
