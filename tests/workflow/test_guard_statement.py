"""The one-statement guards keep the rule's edges: blank explanations, removed files, out-of-range values."""

from __future__ import annotations

from sqlalchemy import select

from models import Evidence, Score
from states import Stage
from workflow import guards, scores


def _case(make):
    case = make.case_of(make.campaign(sign_off=()), "10001")
    make.advance(case, Stage.self_assessment)
    return case


def _score(db, case, code) -> Score:
    item = scores.item_by_code(case, code)
    return db.session.scalar(select(Score).where(Score.case_id == case.id, Score.item_id == item.id))


def test_a_whitespace_explanation_or_a_removed_file_is_no_evidence(make, db, now):
    case = _case(make)
    officer = make.officers["10001"]
    for code in ("1.1.1", "1.1.2", "2.1.1"):
        scores.set_self_assessment(case, code, officer, now=now, score=1)
    _score(db, case, "1.1.1").explanation = " \t\u00a0\n"  # Python's strip() takes the no-break space too
    item = scores.item_by_code(case, "2.1.1")
    db.session.add(Evidence(case_id=case.id, item_id=item.id, file_name="cu.pdf", sha256="a" * 64, size=10,
                            media_type="application/pdf", uploaded_by_id=officer.id, uploaded_at=now,
                            removed_at=now))
    db.session.flush()
    assert [str(b) for b in guards.self_assessment_complete(case)] == [
        "1.1.1: evidence required", "2.1.1: evidence required"]


def test_an_out_of_range_stored_value_blocks_and_not_applicable_never_does(make, db, now):
    case = _case(make)
    make.fill_self(case)
    assert guards.self_assessment_complete(case) == []
    _score(db, case, "1.1.2").self_score = _score(db, case, "1.1.2").self_score + 100  # written around the API
    _score(db, case, "2.1.1").self_score = None
    _score(db, case, "2.1.1").not_applicable = True
    db.session.flush()
    blockers = [str(b) for b in guards.self_assessment_complete(case)]
    assert len(blockers) == 1 and blockers[0].startswith("1.1.2: score ") and "outside 0.." in blockers[0]
    assert [str(b) for b in guards.appraisal_complete(case)] == ["1.1.1: not appraised", "1.1.2: not appraised"]
    assert [str(b) for b in guards.survey_points_recorded(case)] == ["2.2.1: no survey points"]
