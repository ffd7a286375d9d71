"""Optimistic locking and races: a stale version, and two people submitting one case at once."""

from __future__ import annotations

import threading

import pytest
from flask import current_app
from sqlalchemy import func, select

from models import AuditEvent, Case, Signature, User
from states import Stage
from workflow import audit, cases, signoff, txn
from workflow.errors import Conflict, TransitionRefused


def test_a_stale_expected_version_is_a_conflict(make, db, now):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    make.fill_self(case)
    db.session.commit()
    stale = case.version - 1
    with pytest.raises(Conflict):
        cases.fire(case, "submit", make.officers["10001"], now=now, expected_version=stale)
    assert case.stage == "self_assessment"
    result = cases.fire(case, "submit", make.officers["10001"], now=now, expected_version=case.version)
    assert result.fired and case.stage == "appraisal"


def test_two_concurrent_submits_one_wins_one_conflicts(make, db, now):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    make.fill_self(case)
    db.session.commit()
    case_id, officer_id = case.id, make.officers["10001"].id
    app = current_app._get_current_object()

    def work(_i):
        mine = db.session.get(Case, case_id)
        officer = db.session.get(User, officer_id)
        assert mine.stage == "self_assessment"
        return lambda: cases.fire(mine, "submit", officer, now=now)

    outcomes = _race(app, db, work)
    assert len(outcomes) == 2 and outcomes.count("won") == 1, outcomes
    loser = next(o for o in outcomes if o != "won")
    assert loser == "conflict" or (loser.startswith("refused") and "appraisal" in loser), outcomes
    db.session.expire_all()
    assert db.session.get(Case, case_id).stage == "appraisal"
    transitions = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "case.transition", AuditEvent.subject == "submit"))
    assert transitions == 1


def _race(app, db, work, n=2) -> list[str]:
    """Run ``work(i)`` in ``n`` threads, each with its own app context and session; their outcomes."""
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def run(i):
        with app.app_context():
            try:
                prepared = work(i)
                barrier.wait(timeout=10)
                prepared()
                txn.commit()
                outcomes.append("won")
            except Conflict:
                outcomes.append("conflict")
            except TransitionRefused as exc:
                outcomes.append(f"refused: {exc.message}")
            except Exception as exc:  # noqa: BLE001 - the test reports whatever else happened
                outcomes.append(f"{type(exc).__name__}: {exc}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def _one_approval_short(make, db, now):
    """A case whose approve sign-off has 2 of the 3 approvals it needs (4 members, 2/3)."""
    campaign = make.campaign(council_size=4, chair_required=False)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.council_meeting)
    cases.fire(case, "approve", make.secretariat, now=now)
    signoff.sign(case, make.council[0], "approve", now=now)
    signoff.sign(case, make.council[3], "approve", now=now)
    db.session.commit()
    return case


def test_two_last_approvals_at_once_fire_the_transition_exactly_once(make, db, now):
    case = _one_approval_short(make, db, now)
    case_id = case.id
    members = [make.council[1].id, make.council[2].id]
    app = current_app._get_current_object()

    def work(i):
        mine = db.session.get(Case, case_id)
        member = db.session.get(User, members[i])
        assert signoff.pending_for(mine) is not None
        return lambda: signoff.sign(mine, member, "approve", now=now)

    outcomes = _race(app, db, work)
    # each saw quorum reached with its own signature; the loser's case update met a newer version
    assert sorted(outcomes) == ["conflict", "won"], outcomes
    db.session.expire_all()
    assert db.session.get(Case, case_id).stage == "publication"
    transitions = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "case.transition", AuditEvent.subject == "approve"))
    assert transitions == 1
    assert audit.verify().ok


def test_a_signature_on_a_case_someone_else_just_moved_on_is_a_conflict(make, db, now):
    """The loser of a double-submitted signature may arrive after the winner committed: no sign-off is pending
    any more, but what they saw is stale, so they get a conflict, not 'no pending sign-off'."""
    case = _one_approval_short(make, db, now)
    case_id, late, first = case.id, make.council[1], make.council[2].id
    stale_version = case.version
    app = current_app._get_current_object()

    def winner():
        with app.app_context():
            signoff.sign(db.session.get(Case, case_id), db.session.get(User, first), "approve", now=now)
            txn.commit()
            db.session.remove()

    thread = threading.Thread(target=winner)
    thread.start()
    thread.join(timeout=60)
    assert case.version == stale_version  # this session still holds what it read before
    with pytest.raises(Conflict):
        signoff.sign(case, late, "approve", now=now)
    db.session.rollback()
    assert db.session.get(Case, case_id).stage == "publication"
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 3
    with pytest.raises(signoff.NotFound):  # now up to date: there really is no pending sign-off
        signoff.sign(db.session.get(Case, case_id), late, "approve", now=now)


def test_a_double_submitted_signature_is_a_conflict_not_a_crash(make, db, now):
    case = _one_approval_short(make, db, now)
    case_id, member_id = case.id, make.council[1].id
    app = current_app._get_current_object()

    def work(_):
        mine = db.session.get(Case, case_id)
        member = db.session.get(User, member_id)
        assert len(signoff.pending_for(mine).signatures) == 2
        return lambda: signoff.sign(mine, member, "approve", now=now)

    outcomes = _race(app, db, work)
    assert sorted(outcomes) == ["conflict", "won"], outcomes
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Signature)) == 3
    assert db.session.get(Case, case_id).stage == "publication"
