"""Optimistic locking and races: a stale version, and two people submitting one case at once."""

from __future__ import annotations

import threading

import pytest
from flask import current_app
from sqlalchemy import func, select

from models import AuditEvent, Case, User
from states import Stage
from workflow import cases, txn
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
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit():
        with app.app_context():
            try:
                mine = db.session.get(Case, case_id)
                officer = db.session.get(User, officer_id)
                assert mine.stage == "self_assessment"
                barrier.wait(timeout=10)
                cases.fire(mine, "submit", officer, now=now)
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

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == 2 and outcomes.count("won") == 1, outcomes
    loser = next(o for o in outcomes if o != "won")
    assert loser == "conflict" or (loser.startswith("refused") and "appraisal" in loser), outcomes
    db.session.expire_all()
    assert db.session.get(Case, case_id).stage == "appraisal"
    transitions = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "case.transition", AuditEvent.subject == "submit"))
    assert transitions == 1
