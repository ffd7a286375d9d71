"""Applying a stage change once every check has passed (used by ``fire`` and by sign-off)."""

from __future__ import annotations

import datetime as dt

from models import Case, SignOff, User
from states import Stage

from . import audit, deadlines, events
from .txn import touch


def apply_transition(case: Case, transition: str, source: Stage, dest: Stage, actor: User | None, *,
           now: dt.datetime, reason: str | None, revision_due: dt.date | None,
           via_sign_off: SignOff | None) -> None:
    cal = deadlines.calendar_of(case.campaign)
    deadlines.complete_open(case, source.value, now)
    case.stage = dest.value
    touch(case, now)
    after: dict = {"stage": dest.value}
    if reason:
        after["reason"] = reason
    if via_sign_off is not None:
        after["sign_off_id"] = via_sign_off.id
    if transition == "return_for_revision":
        row = deadlines.open_revision_deadline(case, revision_due, cal)
        case.revision_due, case.revision_reason = row.due, reason
        after["revision_due"] = row.due.isoformat()
    else:
        if source == Stage.self_assessment:
            case.revision_due = case.revision_reason = None
        row = deadlines.open_stage_deadline(case, dest.value, cal)
        if row is not None:
            after["due"] = row.due.isoformat()
    audit.record("case.transition", actor=actor, now=now, case=case, subject=transition,
                 before={"stage": source.value}, after=after)
    events.publish(events.StageChanged(case.id, now, transition, source.value, dest.value,
                                       actor.email if actor else audit.SYSTEM))
    if transition == "return_for_revision":
        events.publish(events.ReturnedForRevision(case.id, now, reason or "", case.revision_due))
