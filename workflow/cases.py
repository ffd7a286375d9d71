"""Firing transitions: the one way a case changes stage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert, select

from models import Campaign, Case, Commune, SignOff, User, db
from states import TRANSITIONS, IllegalTransition, Stage, next_stage

from . import access, audit, signoff
from .clock import local_date
from .errors import Blocker, InvalidInput, NotFound, TransitionRefused
from .guards import GUARDS
from .stage_change import apply_transition, apply_transitions
from .txn import check_version, flush, guarded


@dataclass(frozen=True)
class FireResult:
    """Either the case moved (``fired``) or a council sign-off was opened (``sign_off``)."""

    case: Case
    fired: bool
    source: str
    dest: str | None
    sign_off: SignOff | None = None


def get_case(campaign_key: str, commune_code: str) -> Case:
    case = db.session.scalar(
        select(Case).join(Campaign).join(Commune)
        .where(Campaign.key == campaign_key, Commune.code == commune_code))
    if case is None:
        raise NotFound(f"No case for commune {commune_code} in campaign {campaign_key}.")
    return case


def readiness(case: Case, transition: str, actor: User | None = None, *, reason: str | None = None,
              revision_due: dt.date | None = None, check_reason: bool = False,
              now: dt.datetime | None = None) -> list[Blocker]:
    """Everything that blocks ``transition`` now, without firing it."""
    spec = TRANSITIONS.get(transition)
    if spec is None:
        return [Blocker("", f"unknown transition '{transition}'")]
    stage = case.stage_enum
    if spec.source != stage:
        return [Blocker("", f"the case is in stage '{stage.value}'; '{transition}' is fired from "
                            f"'{spec.source.value}'")]
    blockers: list[Blocker] = []
    if actor is not None:
        why = access.fire_refusal(actor, case, spec)
        if why:
            blockers.append(Blocker("", why))
    for name in spec.guards:
        blockers.extend(GUARDS[name](case))
    if check_reason and spec.reason_required and not (reason or "").strip():
        blockers.append(Blocker("", "a reason is required"))
    if check_reason and spec.sets_revision_deadline and revision_due is None:
        blockers.append(Blocker("", "a revision deadline is required"))
    if check_reason and spec.sets_revision_deadline and revision_due is not None and now is not None \
            and revision_due < local_date(now, case.campaign.timezone):
        blockers.append(Blocker("", "the revision deadline is in the past"))
    pending = signoff.pending_for(case)
    if pending is not None:
        blockers.append(signoff._awaiting(pending))
    return blockers


@guarded()
def fire(case: Case, transition: str, actor: User | None, *, now: dt.datetime,
         expected_version: int | None = None, reason: str | None = None,
         revision_due: dt.date | None = None, via_sign_off: SignOff | None = None) -> FireResult:
    """Fire ``transition`` on ``case`` as ``actor``; the caller commits.

    Checks version, role and commune scope, the chart and every guard, then changes the
    stage, writes the audit event, moves deadlines and publishes events. When the plan puts
    the transition under council sign-off, opens a sign-off instead (unless ``via_sign_off``).
    """
    spec = TRANSITIONS.get(transition)
    if spec is None:
        raise InvalidInput(f"unknown transition '{transition}'")
    check_version(case, expected_version)
    if via_sign_off is None:
        access.require_fire(actor, case, spec)
    source = case.stage_enum
    try:
        dest = next_stage(source, transition)
    except IllegalTransition as exc:
        raise TransitionRefused(transition, [Blocker("", str(exc))]) from None
    reason = (reason or "").strip() or None
    blockers = [b for name in spec.guards for b in GUARDS[name](case)]
    if spec.reason_required and not reason:
        blockers.append(Blocker("", "a reason is required"))
    if spec.sets_revision_deadline:
        if revision_due is None:
            blockers.append(Blocker("", "a revision deadline is required"))
        elif revision_due < local_date(now, case.campaign.timezone):
            # "today" is the authority's local date: 06:00 in Hà Nội is still yesterday in UTC
            blockers.append(Blocker("", "the revision deadline is in the past"))
    if via_sign_off is None:
        # one decision at a time: while the council considers a transition, the case stays put
        pending = signoff.pending_for(case)
        if pending is not None:
            blockers.append(signoff._awaiting(pending))
    if blockers:
        raise TransitionRefused(transition, blockers)

    if via_sign_off is None and case.campaign.needs_sign_off(transition):
        sign_off = signoff.open_sign_off(case, transition, actor, now=now)
        flush()
        return FireResult(case, False, source.value, None, sign_off)

    apply_transition(case, spec.name, source, dest, actor, now=now, reason=reason, revision_due=revision_due,
           via_sign_off=via_sign_off)
    flush()
    return FireResult(case, True, source.value, dest.value)


@guarded()
def fire_many(waiting: list[Case], transition: str, actor: User | None, *, now: dt.datetime) -> int:
    """Fire a transition that takes no reason on many cases of one campaign in one transaction.

    The same checks and effects as ``fire`` on each case (role and scope, chart, guards, pending
    sign-off; deadlines, one audit event per case in the chain, one outbox event each), with the
    reads and writes made once for all: starting a national campaign opens thousands of cases.
    Falls back to ``fire`` per case when the plan puts the transition under council sign-off (which
    opens sign-offs instead). Returns how many cases moved.
    """
    spec = TRANSITIONS.get(transition)
    if spec is None:
        raise InvalidInput(f"unknown transition '{transition}'")
    if not waiting:
        return 0
    if spec.reason_required or spec.sets_revision_deadline:
        raise InvalidInput(f"'{transition}' needs a reason or a revision deadline: fire it case by case")
    campaign = waiting[0].campaign
    if campaign.needs_sign_off(transition) or any(c.campaign_id != campaign.id for c in waiting):
        return sum(fire(case, transition, actor, now=now).fired for case in waiting)
    pending = signoff.pending_for_many([c.id for c in waiting])
    for case in waiting:
        access.require_fire(actor, case, spec)
        try:
            next_stage(case.stage_enum, transition)
        except IllegalTransition as exc:
            raise TransitionRefused(transition, [Blocker("", str(exc))]) from None
        blockers = [b for name in spec.guards for b in GUARDS[name](case)]
        if case.id in pending:
            blockers.append(signoff._awaiting(pending[case.id]))
        if blockers:
            raise TransitionRefused(transition, blockers)
    apply_transitions(waiting, spec.name, spec.source, spec.dest, actor, now=now)
    flush()
    return len(waiting)


def available_actions(case: Case, actor: User) -> list[tuple[str, list[Blocker]]]:
    """Transitions from the case's stage that ``actor`` holds a role for, each with its blockers."""
    result = []
    for spec in TRANSITIONS.values():
        if spec.source != case.stage_enum or not (actor.roles & spec.roles):
            continue
        result.append((spec.name, readiness(case, spec.name, actor)))
    return result


def ensure_case(campaign: Campaign, commune: Commune, *, actor: User | None, now: dt.datetime) -> Case:
    """The campaign's case for ``commune``, created (in planning) with its audit event if missing."""
    case = db.session.scalar(select(Case).where(Case.campaign_id == campaign.id, Case.commune_id == commune.id))
    if case is not None:
        return case
    case = Case(campaign=campaign, commune=commune, stage=Stage.planning.value, created_at=now, updated_at=now)
    db.session.add(case)
    db.session.flush()
    audit.record("case.created", actor=actor, now=now, case=case, subject=commune.code,
                 after={"stage": Stage.planning.value, "commune": commune.code})
    return case


def create_cases(campaign: Campaign, communes: dict[str, int], *, actor: User | None,
                 now: dt.datetime) -> dict[str, int]:
    """``ensure_case`` for communes (code -> id) that have no case in ``campaign`` yet, in one statement.

    Returns the new case ids by commune code. The rows are those the ORM writes (version 1, the
    mapper's first), without building thousands of ORM objects; the events follow the given order.
    """
    table = Case.__table__
    rows = [{"campaign_id": campaign.id, "commune_id": commune_id, "stage": Stage.planning.value,
             "version": 1, "created_at": now, "updated_at": now} for commune_id in communes.values()]
    made = {commune_id: case_id for commune_id, case_id
            in db.session.execute(insert(table).returning(table.c.commune_id, table.c.id), rows)}
    audit.record_many([audit.Entry("case.created", campaign.id, made[commune_id], code,
                                   after={"stage": Stage.planning.value, "commune": code})
                       for code, commune_id in communes.items()], actor=actor, now=now)
    return {code: made[commune_id] for code, commune_id in communes.items()}
