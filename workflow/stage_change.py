"""Applying a stage change once every check has passed (used by ``fire`` and by sign-off)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value

from models import Case, SignOff, User, db
from states import Stage

from . import audit, deadlines, events
from .errors import Conflict
from .txn import in_chunks

_CASES = Case.__table__
_MOVE = (update(_CASES)
         .where(_CASES.c.id == bindparam("k_id"), _CASES.c.version == bindparam("k_version"))
         .values(stage=bindparam("stage"), version=bindparam("version"), updated_at=bindparam("updated_at"),
                 revision_due=bindparam("revision_due"), revision_reason=bindparam("revision_reason")))


def apply_transition(case: Case, transition: str, source: Stage, dest: Stage, actor: User | None, *,
                     now: dt.datetime, reason: str | None, revision_due: dt.date | None,
                     via_sign_off: SignOff | None) -> None:
    """Move the case and write what goes with it, in the caller's transaction.

    The case row first, with its optimistic version check (a lost race is a Conflict before anything
    else is written), then the deadlines, the audit event and the outbox event, each one statement
    written directly rather than through the unit of work: this is every transition's path.
    """
    session = db.session()
    session.flush()  # pending ORM changes of this transaction (a sign-off's touch) go first, in order
    cal = deadlines.calendar_of(case.campaign)
    if transition == "return_for_revision":
        new_due, new_reason = cal.roll_forward(revision_due).date, reason
    elif source == Stage.self_assessment:
        new_due, new_reason = None, None
    else:
        new_due, new_reason = case.revision_due, case.revision_reason
    _move(case, dest.value, now, new_due, new_reason)
    deadlines.complete_open(case, source.value, now)
    after: dict = {"stage": dest.value}
    if reason:
        after["reason"] = reason
    if via_sign_off is not None:
        after["sign_off_id"] = via_sign_off.id
    if transition == "return_for_revision":
        row = deadlines.open_revision_deadline(case, revision_due, cal)
        after["revision_due"] = row.due.isoformat()
    else:
        opened = deadlines.open_stage_deadline(case, dest.value, cal)
        if opened is not None:
            after["due"] = opened.due.isoformat()
    audit.record("case.transition", actor=actor, now=now, case=case, subject=transition,
                 before={"stage": source.value}, after=after)
    events.publish(events.StageChanged(case.id, now, transition, source.value, dest.value,
                                       actor.email if actor else audit.SYSTEM, actor.id if actor else None))
    if transition == "return_for_revision":
        events.publish(events.ReturnedForRevision(case.id, now, reason or "", case.revision_due))


def _move(case: Case, stage: str, now: dt.datetime, revision_due: dt.date | None,
          revision_reason: str | None) -> None:
    """UPDATE the case where its version is still the one read; the session's object follows."""
    version = case.version
    result = db.session.connection().execute(_MOVE, {
        "k_id": case.id, "k_version": version, "stage": stage, "version": version + 1, "updated_at": now,
        "revision_due": revision_due, "revision_reason": revision_reason})
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict()
    for name, value in (("stage", stage), ("version", version + 1), ("updated_at", now),
                        ("revision_due", revision_due), ("revision_reason", revision_reason)):
        set_committed_value(case, name, value)


def apply_transitions(waiting: list[Case], transition: str, source: Stage, dest: Stage, actor: User | None, *,
                      now: dt.datetime) -> None:
    """``apply_transition`` for many cases of one campaign (no reason, no revision deadline), set-based.

    The same rows as case by case: deadlines completed and opened, each case's stage, ``updated_at`` and
    version moved on with the version check (one UPDATE per version held; a case changed meanwhile fails
    it as the ORM's flush would), one audit event per case in order, one outbox event each.
    """
    campaign = waiting[0].campaign
    cal = deadlines.calendar_of(campaign)
    ids = [c.id for c in waiting]
    with db.session.no_autoflush:
        deadlines.complete_open_many(ids, source.value, now)
        due = deadlines.open_stage_deadlines(campaign, ids, dest.value, cal)
        _move_all(waiting, dest, now, clear_revision=source == Stage.self_assessment)
        after: dict = {"stage": dest.value}
        if due is not None:
            after["due"] = due.isoformat()
        audit.record_many([audit.Entry("case.transition", case.campaign_id, case.id, transition,
                                       before={"stage": source.value}, after=after) for case in waiting],
                          actor=actor, now=now)
    label, actor_id = (actor.email, actor.id) if actor else (audit.SYSTEM, None)
    events.publish_many([events.StageChanged(case.id, now, transition, source.value, dest.value, label, actor_id)
                         for case in waiting])


def _move_all(waiting: list[Case], dest: Stage, now: dt.datetime, *, clear_revision: bool) -> None:
    """The cases' new stage, ``updated_at`` and version, written where each still holds the version read
    (one UPDATE per version held and 2,000 cases); the session's objects follow."""
    values: dict = {"stage": dest.value, "updated_at": now}
    if clear_revision:
        values.update(revision_due=None, revision_reason=None)
    by_version: dict[int, list[int]] = {}
    for case in waiting:
        by_version.setdefault(case.version, []).append(case.id)
    table = Case.__table__
    for version, ids in by_version.items():
        for chunk in in_chunks(ids):
            moved = db.session.execute(update(table).where(table.c.id.in_(chunk), table.c.version == version)
                                       .values(version=version + 1, **values)).rowcount
            if moved != len(chunk):  # a case changed since it was read: nothing of the start stays
                db.session.rollback()
                raise Conflict()
    for case in waiting:
        set_committed_value(case, "version", case.version + 1)
        for key, value in values.items():
            set_committed_value(case, key, value)
