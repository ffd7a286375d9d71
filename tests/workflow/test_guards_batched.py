"""guards.blockers_many gives, for many cases at once, exactly what each per-case guard gives."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from sqlalchemy import select

from models import CriteriaItem, Evidence, Score
from states import Stage
from tests.factories import NOW
from workflow import cases, guards, signoff

NAMES = sorted(guards.GUARDS)
# one leaf's state in one score column: no value, a value (in range or not), not applicable
VALUES = ("none", "none", "max", "half", "zero", "negative", "over", "na", "na_valued")
EXPLANATIONS = (None, "", " \t\u00a0\n", "Đã thực hiện")
FILES = ("none", "live", "removed", "live_and_removed")


def _value(kind: str, max_points: Decimal) -> Decimal | None:
    return {"max": max_points, "half": max_points / 2, "zero": Decimal(0), "negative": Decimal("-1"),
            "over": max_points + 1, "na_valued": max_points}.get(kind)


def _fill(db, make, case, rng: random.Random) -> None:
    """Score rows and evidence files written around the API: every combination the guards may meet."""
    officer = make.officers[case.commune.code]
    leaves = db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == case.campaign.criteria_set_id, CriteriaItem.method.is_not(None))).all()
    for item in leaves:
        picks = {column: rng.choice(VALUES) for column in ("self_score", "appraised_score", "survey_score")}
        if rng.random() < 0.3:
            pass  # no score row at all
        else:
            na = rng.random() < 0.15 or picks["self_score"] in ("na", "na_valued")
            db.session.add(Score(case_id=case.id, item_id=item.id, not_applicable=na,
                                 explanation=rng.choice(EXPLANATIONS), updated_at=NOW,
                                 **{column: _value(kind, item.max_points) for column, kind in picks.items()}))
        files = rng.choice(FILES)
        for removed in {"none": (), "live": (False,), "removed": (True,), "live_and_removed": (False, True)}[files]:
            db.session.add(Evidence(case_id=case.id, item_id=item.id, file_name="f.pdf", sha256="a" * 64, size=1,
                                    media_type="application/pdf", uploaded_by_id=officer.id, uploaded_at=NOW,
                                    removed_at=NOW if removed else None))
    db.session.flush()


def _evidence_missing(db, make, case) -> None:
    """1.1.1 scored with a blank explanation and only a removed file; 2.1.1 scored with a live file."""
    items = {i.code: i for i in db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == case.campaign.criteria_set_id))}
    officer = make.officers[case.commune.code]
    for code, removed in (("1.1.1", NOW), ("2.1.1", None)):
        db.session.add(Score(case_id=case.id, item_id=items[code].id, self_score=Decimal(1), not_applicable=False,
                             explanation=" ", updated_at=NOW))
        db.session.add(Evidence(case_id=case.id, item_id=items[code].id, file_name="f.pdf", sha256="a" * 64, size=1,
                                media_type="application/pdf", uploaded_by_id=officer.id, uploaded_at=NOW,
                                removed_at=removed))
    db.session.flush()


def _per_case(cases_) -> dict:
    return {name: {case.id: guards.GUARDS[name](case) for case in cases_} for name in NAMES}


def _batched(cases_) -> dict:
    return {name: {case_id: list(found) for case_id, found in guards.blockers_many(name, cases_).items()}
            for name in NAMES}


@pytest.fixture
def varied(make, db):
    """Two campaigns with their own criteria sets, 14 cases between them, scores and files at random."""
    rng = random.Random(7)
    made = []
    first = make.campaign(communes=tuple(f"1{i:04d}" for i in range(1, 11)))
    made += [make.case_of(first, f"1{i:04d}") for i in range(1, 11)]
    _evidence_missing(db, make, made[0])
    for case in made[1:]:
        _fill(db, make, case, rng)
    second = make.campaign("other-2023", communes=("20001", "20002", "20003", "20004"))
    more = [make.case_of(second, code) for code in ("20001", "20002", "20003", "20004")]
    for case in more[1:]:
        _fill(db, make, case, rng)
    return made + more


def test_batched_guards_equal_the_per_case_guards_on_varied_cases(db, varied):
    per_case = _per_case(varied)
    assert _batched(varied) == per_case
    # the fixture reaches the interesting verdicts: ready, all missing, and each kind of reason
    reasons = {b.reason.split(" ")[0] for found in per_case.values() for bs in found.values() for b in bs}
    assert {"no", "not", "evidence", "score"} <= reasons
    assert any(bs == [] for bs in per_case["survey_points_recorded"].values())


def test_batched_guards_in_small_chunks_and_for_a_subset(db, varied, monkeypatch):
    monkeypatch.setattr(guards, "_CHUNK", 3)
    assert _batched(varied) == _per_case(varied)
    some = varied[3:6] + varied[-2:]
    assert _batched(some) == _per_case(some)
    assert guards.blockers_many("appraisal_complete", []) == {}


def test_batched_guards_follow_ready_and_unscored_extremes(make, db):
    campaign = make.campaign(communes=("10001", "10002"))
    ready, empty = make.case_of(campaign, "10001"), make.case_of(campaign, "10002")
    make.advance(ready, Stage.council_meeting)  # every score filled through the real operations
    found = guards.blockers_many("self_assessment_complete", [ready, empty])
    assert found[ready.id] == () and [str(b) for b in found[empty.id]] == [
        "1.1.1: no score", "1.1.2: no score", "2.1.1: no score"]
    for name in NAMES:
        assert {k: list(v) for k, v in guards.blockers_many(name, [ready, empty]).items()} == {
            ready.id: guards.GUARDS[name](ready), empty.id: guards.GUARDS[name](empty)}


def test_pending_for_many_equals_pending_for(make, db, now):
    campaign = make.campaign(communes=("10001", "10002"))  # 'approve' goes to council sign-off
    a, b = make.case_of(campaign, "10001"), make.case_of(campaign, "10002")
    make.advance(a, Stage.council_meeting)
    assert not cases.fire(a, "approve", make.secretariat, now=now).fired
    found = signoff.pending_for_many([a.id, b.id])
    assert set(found) == {a.id} and found[a.id] is signoff.pending_for(a)
    assert signoff.pending_for(b) is None and signoff.pending_for_many([]) == {}
