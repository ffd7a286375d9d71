"""Immediate notices: e-mails that a workflow event decides at once (not the sweep's timed reminders).

Handlers run inside the transaction that publishes the event, so the notice is queued in the
outbox together with the change it reports, or not at all; delivery sends it after commit.
"""

from __future__ import annotations

from sqlalchemy import select

from models import Case, Deadline, User, UserRole, db
from states import Role
from workflow import deadlines, events, reminders

from .outbox import enqueue


def revision_notice_key(case_id: int, deadline_id: int, email: str) -> str:
    """One notice per return (its revision deadline row) and officer: never queued twice."""
    return f"notice:returned:case={case_id}:deadline={deadline_id}:to={email}"


def commune_officers(case: Case) -> tuple[User, ...]:
    """The active commune officers of the case's commune (and of no other commune)."""
    users = db.session.scalars(
        select(User).join(UserRole, UserRole.user_id == User.id)
        .where(User.commune_id == case.commune_id, UserRole.role == Role.commune_officer.value)).all()
    return reminders._unique(users)


def on_returned_for_revision(event: events.ReturnedForRevision) -> None:
    """Tell the commune's officers that their case came back, why, and by when to resubmit."""
    case = db.session.get(Case, event.case_id)
    # the revision deadline this return opened (the newest round); autoflush makes it visible
    row = db.session.scalars(select(Deadline).where(Deadline.case_id == case.id, Deadline.kind == "revision")
                             .order_by(Deadline.round.desc()).limit(1)).first()
    if row is None:  # pragma: no cover - apply_transition always opens one before publishing
        return
    planner = reminders.Planner(case.campaign)
    today = event.occurred_at.astimezone(planner.tz).date()
    explained = deadlines.explain(row, planner.cal)
    facts = {
        "due": row.due, "plan_due": row.plan_due, "explanation": explained.explanation,
        "explanation_vi": explained.explanation_vi,
        "working_days_left": planner.cal.working_days_between(today, row.due), "days_late": 0,
        "missing": [], "stage": row.stage, "commune_name": case.commune.name,
        "campaign_key": case.campaign.key, "case_id": case.id, "reason": event.reason,
    }
    for user in commune_officers(case):
        enqueue(key=revision_notice_key(case.id, row.id, user.email), kind="notice", case=case, deadline=row,
                level=row.round, recipient=user, scheduled_for=event.occurred_at, now=event.occurred_at,
                facts=dict(facts))


# event -> handlers: the one place to read what notifications does when the workflow speaks
HANDLERS: dict[type[events.Event], tuple] = {
    events.ReturnedForRevision: (on_returned_for_revision,),
}


def subscribe_all() -> None:
    """Register the handlers above with the workflow's event publisher (idempotent)."""
    for event_type, handlers in HANDLERS.items():
        for handler in handlers:
            events.subscribe(event_type, handler)
