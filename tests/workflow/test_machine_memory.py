"""The shared machine keeps nothing per case, and a failed transition leaves memory equal to the database."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import states.machine as machine_module
from models import Case, DomainEvent
from states import MACHINE, Stage, next_stage
from workflow import cases, events
from workflow.errors import Conflict, TransitionRefused

# one commune's year, with a return for revision and a reopening: 9 triggers
YEAR = ("open", "submit", "return_for_revision", "submit", "complete_appraisal", "record_survey", "approve",
        "reopen", "approve")


class TrackedToken(machine_module.StageToken):
    """A token that can be weakly referenced, so the test can see whether anything keeps it."""

    __slots__ = ("__weakref__",)
    refs: list[weakref.ref] = []

    def __init__(self, stage):
        super().__init__(stage)
        TrackedToken.refs.append(weakref.ref(self))


@pytest.fixture
def tracked_tokens(monkeypatch):
    TrackedToken.refs = []
    monkeypatch.setattr(machine_module, "StageToken", TrackedToken)
    return TrackedToken.refs


def _walk_a_year() -> Stage:
    stage = Stage.planning
    for trigger in YEAR:
        stage = next_stage(stage, trigger)
    return stage


def test_ten_thousand_cases_of_triggers_leave_the_machine_empty(tracked_tokens):
    for _ in range(10_000):
        assert _walk_a_year() is Stage.publication
    gc.collect()
    assert len(tracked_tokens) == 10_000 * len(YEAR)
    assert MACHINE.models == []
    assert all(ref() is None for ref in tracked_tokens)


def test_triggers_do_not_grow_memory():
    for _ in range(500):  # warm the library's caches first
        _walk_a_year()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(2_000):
            _walk_a_year()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # 18,000 triggers (tracemalloc is slow); anything kept per trigger (even 8 bytes) would exceed this
    assert grown < 32 * 1024, grown


def test_hundreds_of_real_fires_leave_the_machine_and_the_cases_unreferenced(tracked_tokens, make, db, now):
    codes = [f"2{n:04d}" for n in range(34)]
    campaign = make.campaign(communes=codes, sign_off=())
    fired = 0
    case_refs = []
    for code in codes:
        case = make.case_of(campaign, code)
        for trigger in ("open", "submit", "return_for_revision", "submit", "complete_appraisal",
                        "record_survey", "approve", "reopen", "approve"):
            kwargs = {}
            if trigger == "submit":
                make.fill_self(case)
            elif trigger == "complete_appraisal":
                make.fill_appraisal(case)
            elif trigger == "record_survey":
                make.fill_survey(case)
            elif trigger in ("return_for_revision", "reopen"):
                kwargs = {"reason": "Kiểm tra lại", "revision_due": now.date()}
            actor = make.officers[code] if trigger == "submit" else make.admin
            assert cases.fire(case, trigger, actor, now=now, **kwargs).fired
            fired += 1
        assert case.stage == "publication"
        case_refs.append(weakref.ref(case))
        del case
    db.session.commit()
    assert fired == 306
    db.session.expunge_all()
    gc.collect()
    assert MACHINE.models == []
    assert len(tracked_tokens) == fired and all(ref() is None for ref in tracked_tokens)
    # nothing outside the session (machine, event handlers, caches) holds on to a case
    assert all(ref() is None for ref in case_refs)


def _stage_in_database(db, case_id) -> str:
    return db.session.execute(text("SELECT stage FROM cases WHERE id = :id"), {"id": case_id}).scalar_one()


def test_a_guard_refusal_leaves_memory_equal_to_the_database(make, db, now):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    version = case.version
    with pytest.raises(TransitionRefused):
        cases.fire(case, "submit", make.officers["10001"], now=now)
    assert case.stage == "self_assessment" == _stage_in_database(db, case.id)
    assert case.version == version


def test_a_failed_flush_leaves_memory_equal_to_the_database(make, db, now, monkeypatch):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    make.fill_self(case)
    db.session.commit()

    def broken_publish(event):
        # an outbox row the database refuses (name is NOT NULL): the flush of the transition fails
        db.session.add(DomainEvent(name=None, case_id=event.case_id, payload={}, occurred_at=now))

    monkeypatch.setattr(events, "publish", broken_publish)
    with pytest.raises(IntegrityError):
        cases.fire(case, "submit", make.officers["10001"], now=now)
    assert case.stage == "self_assessment" == _stage_in_database(db, case.id)
    monkeypatch.undo()
    assert cases.fire(case, "submit", make.officers["10001"], now=now).fired


def test_a_lost_race_leaves_memory_equal_to_the_database(make, db, now):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    make.fill_self(case)
    db.session.commit()
    # someone else changes the case behind this session's back
    with db.engine.begin() as other:
        other.execute(text("UPDATE cases SET version = version + 1 WHERE id = :id"), {"id": case.id})
    with pytest.raises(Conflict):
        cases.fire(case, "submit", make.officers["10001"], now=now)
    assert case.stage == "self_assessment" == _stage_in_database(db, case.id)
    fresh = db.session.get(Case, case.id)
    assert cases.fire(fresh, "submit", make.officers["10001"], now=now).fired
