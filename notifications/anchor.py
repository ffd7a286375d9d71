"""The auditors' daily anchor: the system checks the whole audit chain and e-mails every auditor the
anchor of that check (its ``audit.verified`` event's seq and hash) to keep outside the system.

A keyless chain cannot show a history rewritten whole by someone who can write to the database; an anchor
held in a mailbox they cannot reach can (``workflow.audit_anchor``). A broken chain turns the same e-mail
into a warning. Once per local day: the outbox keys make a second run that day send nothing again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from models import OutboxMessage, User, UserRole, db
from states import Role
from workflow import history
from workflow.clock import LOCAL_TZ

from .outbox import insert_rendered
from .render import render_anchor


@dataclass
class AnchorReport:
    day: dt.date
    queued: int = 0
    already_queued: int = 0
    check: history.IntegrityCheck | None = None
    recipients: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.check is None:
            return (f"audit anchor for {self.day:%d/%m/%Y}: "
                    + ("already sent" if self.already_queued else "no auditor to send it to"))
        state = "chain intact" if self.check.ok else f"chain BROKEN at seq {self.check.first_bad_seq}"
        return (f"audit anchor for {self.day:%d/%m/%Y}: {state}, {self.check.checked} events, anchor "
                f"{self.check.anchor.text}; {self.queued} queued, {self.already_queued} already queued")


def anchor_key(day: dt.date, email: str) -> str:
    return f"anchor:{day.isoformat()}:{email}"


def queue_anchor_mails(*, now: dt.datetime) -> AnchorReport:
    """Check the chain (recorded as ``audit.verified`` by the system) and queue its anchor for every active
    auditor who has not had today's; nothing at all when every auditor has. The caller commits."""
    day = now.astimezone(LOCAL_TZ).date()
    report = AnchorReport(day=day)
    auditors = [u for u in db.session.scalars(
        select(User).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.auditor.value).order_by(User.email)) if u.is_active]
    sent = set(db.session.scalars(select(OutboxMessage.key).where(
        OutboxMessage.key.in_([anchor_key(day, u.email) for u in auditors]))))
    waiting = [u for u in auditors if anchor_key(day, u.email) not in sent]
    report.already_queued = len(auditors) - len(waiting)
    if not waiting:
        return report
    check = report.check = history.check_integrity(None, now=now)
    base_url = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    local = check.at.astimezone(LOCAL_TZ)
    for user in waiting:
        rendered = render_anchor(locale=user.locale, recipient_name=user.name, day=day,
                                 checked_at=f"{local:%H:%M} {local:%d/%m/%Y}", ok=check.ok, checked=check.checked,
                                 first_bad_seq=check.first_bad_seq, anchor=check.anchor.text,
                                 integrity_url=f"{base_url}/audit/integrity")
        if insert_rendered(key=anchor_key(day, user.email), kind="anchor", rendered=rendered, recipient=user,
                           scheduled_for=now, now=now):
            report.queued += 1
            report.recipients.append(user.email)
    return report
