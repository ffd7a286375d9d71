"""Applying a stage change once every check has passed (used by ``fire`` and by sign-off)."""

from __future__ import annotations

import datetime as dt

from models import Case, SignOff, User, db
from states import Stage

from . import audit, deadlines, events
from .txn import touch


def apply_transition(case: Case, transition: str, source: Stage, dest: Stage, actor: User | None, *,
           now: dt.datetime, reason: str | None, revision_due: dt.date | None,
           via_sign_off: SignOff | None) -> None:
    # one flush at the end (the caller's) instead of one per read: nothing read below depends on the
    # changes made above it (the dest stage's deadline row, the plan's due, the audit head)
    with db.session.no_autoflush:
        _change(case, transition, source, dest, actor, now=now, reason=reason, revision_due=revision_due,
                via_sign_off=via_sign_off)
    events.publish(events.StageChanged(case.id, now, transition, source.value, dest.value,
                                       actor.email if actor else audit.SYSTEM))
    if transition == "return_for_revision":
        events.publish(events.ReturnedForRevision(case.id, now, reason or "", case.revision_due))


def _change(case: Case, transition: str, source: Stage, dest: Stage, actor: User | None, *,
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


def apply_transitions(waiting: list[Case], transition: str, source: Stage, dest: Stage, actor: User | None, *,
                      now: dt.datetime) -> None:
    """``apply_transition`` for many cases of one campaign (no reason, no revision deadline), reads made once."""
    campaign = waiting[0].campaign
    cal = deadlines.calendar_of(campaign)
    ids = [c.id for c in waiting]
    entries = []
    with db.session.no_autoflush:
        deadlines.complete_open_many(ids, source.value, now)
        rows = deadlines.open_stage_deadlines(campaign, ids, dest.value, cal)
        for case in waiting:
            case.stage = dest.value
            touch(case, now)
            after: dict = {"stage": dest.value}
            if source == Stage.self_assessment:
                case.revision_due = case.revision_reason = None
            row = rows.get(case.id)
            if row is not None:
                after["due"] = row.due.isoformat()
            entries.append(audit.Entry("case.transition", case.campaign_id, case.id, transition,
                                       before={"stage": source.value}, after=after))
        audit.record_many(entries, actor=actor, now=now)
    label = actor.email if actor else audit.SYSTEM
    events.publish_many([events.StageChanged(case.id, now, transition, source.value, dest.value, label)
                         for case in waiting])
