"""Council sign-off: a pending request, members' signatures, quorum, and the transition it fires."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from models import Case, CouncilSeat, CriteriaItem, Evidence, Score, Signature, SignOff, User, db
from states import TRANSITIONS, IllegalTransition, next_stage

from . import access, audit, events, txn
from .errors import Blocker, Conflict, InvalidInput, NotFound, TransitionRefused
from .guards import GUARDS
from .stage_change import apply_transition
from .txn import check_version, flush, guarded, touch

# built once: fire, readiness and the sweep ask this for every case
_OF_CASE = (SignOff.case_id == bindparam("case_id"), SignOff.status == "pending")
_PENDING = select(SignOff).where(*_OF_CASE)
_PENDING_ID = select(SignOff.id).where(*_OF_CASE)


def pending_for(case: Case) -> SignOff | None:
    # the common answer, none, from one bare read; the object only when there is one
    if txn.connection().execute(_PENDING_ID, {"case_id": case.id}).first() is None:
        return None
    return db.session.scalar(_PENDING, {"case_id": case.id})


_PENDING_MANY = select(SignOff).where(SignOff.case_id.in_(bindparam("case_ids", expanding=True)),
                                      SignOff.status == "pending")


def pending_for_many(case_ids: list[int]) -> dict[int, SignOff]:
    """``pending_for`` of many cases by case id (cases without a pending sign-off left out).

    ``open_sign_off`` keeps it to one pending sign-off a case; were there two, the first read is kept.
    """
    found: dict[int, SignOff] = {}
    for chunk in txn.in_chunks(case_ids, 1000):
        for sign_off in db.session.scalars(_PENDING_MANY, {"case_ids": chunk}):
            found.setdefault(sign_off.case_id, sign_off)
    return found


_VERSION = select(Case.version).where(Case.id == bindparam("case_id"))


def _moved_on(case: Case) -> bool:
    """Whether the case was changed (and committed) by someone else since this session read it."""
    return txn.connection().execute(_VERSION, {"case_id": case.id}).scalar() != case.version


def quorum_needed(quorum: str | int, members: int) -> int:
    """'2/3' of the members (rounded up), or a whole number of approvals."""
    text = str(quorum).strip()
    if "/" in text:
        num, den = (int(p) for p in text.split("/", 1))
        return max(1, math.ceil(members * num / den))
    return int(text)


@dataclass(frozen=True)
class Progress:
    approvals: int
    needed: int
    members: int
    chair_required: bool
    chair_approved: bool

    @property
    def reached(self) -> bool:
        return self.approvals >= self.needed and (self.chair_approved or not self.chair_required)

    def summary(self) -> str:
        text = f"{self.approvals} of {self.needed} approvals needed ({self.members} members)"
        if self.chair_required:
            text += "; chair " + ("approved" if self.chair_approved else "not yet signed")
        return text


def progress(sign_off: SignOff) -> Progress:
    case = db.session.get(Case, sign_off.case_id)
    campaign = case.campaign
    seats = {s.user_id: s for s in campaign.council}
    approvals = [s for s in sign_off.signatures if s.decision == "approve" and s.user_id in seats]
    chair_ok = any(seats[s.user_id].is_chair for s in approvals)
    return Progress(len(approvals), quorum_needed(campaign.quorum, len(seats)), len(seats),
                    bool(campaign.chair_required), chair_ok)


def content_hash(case: Case) -> str:
    """What a member signs over: every score and every evidence file of the case."""
    rows = db.session.execute(
        select(CriteriaItem.code, Score.self_score, Score.appraised_score, Score.survey_score,
               Score.not_applicable)
        .join(Score, Score.item_id == CriteriaItem.id).where(Score.case_id == case.id)
        .order_by(CriteriaItem.code)).all()
    files = db.session.execute(
        select(CriteriaItem.code, Evidence.sha256).join(Evidence, Evidence.item_id == CriteriaItem.id)
        .where(Evidence.case_id == case.id, Evidence.removed_at.is_(None))
        .order_by(CriteriaItem.code, Evidence.sha256)).all()
    body = {
        "case": case.id,
        "scores": [[c, *(None if v is None else f"{v:.2f}" for v in (s, a, sv)), bool(na)]
                   for c, s, a, sv, na in rows],
        "evidence": [list(f) for f in files],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _awaiting(sign_off: SignOff) -> Blocker:
    return Blocker("", f"awaiting council sign-off of '{sign_off.transition}': {progress(sign_off).summary()}")


def open_sign_off(case: Case, transition: str, actor: User | None, *, now: dt.datetime) -> SignOff:
    existing = pending_for(case)
    if existing is not None:
        raise TransitionRefused(transition, [_awaiting(existing)])
    sign_off = SignOff(case_id=case.id, transition=transition, status="pending",
                       requested_by_id=actor.id if actor else None, requested_at=now)
    db.session.add(sign_off)
    touch(case, now)
    db.session.flush()
    audit.record("signoff.requested", actor=actor, now=now, case=case, subject=transition,
                 after={"sign_off_id": sign_off.id, "transition": transition})
    events.publish(events.SignOffRequested(case.id, now, sign_off.id, transition))
    return sign_off


@guarded()
def sign(case: Case, member: User, decision: str, *, now: dt.datetime, comment: str | None = None,
         expected_version: int | None = None) -> SignOff:
    """Record a member's approval or rejection; fires the transition when the quorum is reached.

    A rejection closes the sign-off with the member's comment and leaves the case where it is.
    """
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be 'approve' or 'reject'", {"decision": ["approve or reject"]})
    check_version(case, expected_version)
    access.require_council_seat(member, case)
    sign_off = pending_for(case)
    if sign_off is None:
        if _moved_on(case):  # e.g. a double-submitted signature: the first one closed the sign-off
            raise Conflict()
        raise NotFound("There is no pending sign-off for this case.")
    if any(s.user_id == member.id for s in sign_off.signatures):
        raise InvalidInput("You have already signed this sign-off.")
    comment = (comment or "").strip() or None
    if decision == "reject" and not comment:
        raise InvalidInput("A rejection needs a comment.", {"comment": ["required when rejecting"]})
    seen = content_hash(case)
    sign_off.signatures.append(Signature(user_id=member.id, decision=decision, comment=comment,
                                         content_sha256=seen, signed_at=now))
    audit.record("signoff.signed", actor=member, now=now, case=case, subject=sign_off.transition,
                 after={"sign_off_id": sign_off.id, "decision": decision, "comment": comment,
                        "content_sha256": seen})
    touch(case, now)
    if decision == "reject":
        _close(case, sign_off, "rejected", member, now, comment)
    else:
        db.session.flush()
        if progress(sign_off).reached:
            spec = TRANSITIONS[sign_off.transition]
            source = case.stage_enum
            try:
                dest = next_stage(source, spec.name)
            except IllegalTransition as exc:
                raise TransitionRefused(spec.name, [Blocker("", str(exc))]) from None
            # the case may have changed since the request (a cleared appraised score): check again
            blockers = [b for name in spec.guards for b in GUARDS[name](case)]
            if blockers:
                raise TransitionRefused(spec.name, blockers)
            _close(case, sign_off, "approved", member, now, None)
            apply_transition(case, spec.name, source, dest, member, now=now,
                   reason=None, revision_due=None, via_sign_off=sign_off)
    flush()
    return sign_off


def _close(case: Case, sign_off: SignOff, status: str, actor: User, now: dt.datetime, reason: str | None):
    sign_off.status, sign_off.closed_at, sign_off.outcome_reason = status, now, reason
    audit.record("signoff.closed", actor=actor, now=now, case=case, subject=sign_off.transition,
                 after={"sign_off_id": sign_off.id, "status": status, "reason": reason})
    events.publish(events.SignOffClosed(case.id, now, sign_off.id, sign_off.transition, status))


def pending_for_member(member: User) -> list[SignOff]:
    """Pending sign-offs in campaigns where ``member`` sits and has not signed yet."""
    campaign_ids = select(CouncilSeat.campaign_id).where(CouncilSeat.user_id == member.id)
    signed = select(Signature.sign_off_id).where(Signature.user_id == member.id)
    return db.session.scalars(
        select(SignOff).join(Case, Case.id == SignOff.case_id)
        .where(SignOff.status == "pending", Case.campaign_id.in_(campaign_ids), SignOff.id.not_in(signed))
        .order_by(SignOff.requested_at)).all()
