"""Score edits: each in the stage that owns it, each an audit event; totals against the commune's own maximum."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Score
from states import Stage
from workflow import cases, scores
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted
from workflow.scoring import case_totals


def _score_events(db, case):
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case.id, AuditEvent.action == "score.changed").order_by(AuditEvent.seq)).all()


@pytest.fixture
def campaign(make):
    return make.campaign(sign_off=())


def test_self_scores_change_only_in_self_assessment(make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    officer = make.officers["10001"]
    with pytest.raises(NotPermitted, match="only be changed in self-assessment"):
        scores.set_self_assessment(case, "1.1.2", officer, now=now, score=1)
    make.advance(case, Stage.self_assessment)
    assert scores.set_self_assessment(case, "1.1.2", officer, now=now, score=1) == {
        "self_score": (None, Decimal("1.00"))}
    make.advance(case, Stage.appraisal)
    with pytest.raises(NotPermitted):
        scores.set_self_assessment(case, "1.1.2", officer, now=now, score=2)
    assert db.session.scalar(select(Score.self_score).join(Score.item).where(
        Score.case_id == case.id, Score.item.has(code="1.1.2"))) == Decimal("2.00")  # advance filled max


def test_appraised_scores_change_only_in_appraisal(make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    with pytest.raises(NotPermitted, match="only be changed in appraisal"):
        scores.set_appraisal(case, "1.1.2", make.secretariat, now=now, score=1)
    make.advance(case, Stage.appraisal)
    with pytest.raises(NotPermitted):
        scores.set_appraisal(case, "1.1.2", make.officers["10001"], now=now, score=1)
    assert scores.set_appraisal(case, "1.1.2", make.secretariat, now=now, score="1,25", note="Thiếu 1 báo cáo") == {
        "appraiser_note": (None, "Thiếu 1 báo cáo"), "appraised_score": (None, Decimal("1.25"))}
    make.advance(case, Stage.survey)
    with pytest.raises(NotPermitted):
        scores.set_appraisal(case, "1.1.2", make.secretariat, now=now, score=2)


def test_survey_points_are_the_secretariats_until_the_council_meets(make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    # the survey runs in parallel: points may come in before the case reaches its survey stage
    assert scores.set_survey_points(case, "2.2.1", make.secretariat, now=now, points="1,75")
    with pytest.raises(NotPermitted):
        scores.set_survey_points(case, "2.2.1", make.officers["10001"], now=now, points=2)
    make.advance(case, Stage.council_meeting)
    with pytest.raises(NotPermitted, match="no longer"):
        scores.set_survey_points(case, "2.2.1", make.secretariat, now=now, points=2)


def test_each_change_is_an_audit_event_with_old_and_new_value(make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    officer = make.officers["10001"]
    scores.set_self_assessment(case, "1.1.2", officer, now=now, score="1")
    scores.set_self_assessment(case, "1.1.2", officer, now=now, score="1,5", explanation="Đã gửi 3/4 báo cáo")
    events = _score_events(db, case)
    assert [(e.subject, e.actor, e.before, e.after) for e in events] == [
        ("1.1.2", officer.email, {"self_score": None}, {"self_score": "1.00"}),
        ("1.1.2", officer.email, {"self_score": "1.00", "explanation": None},
         {"self_score": "1.50", "explanation": "Đã gửi 3/4 báo cáo"}),
    ]


def test_an_unchanged_value_writes_nothing(make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    officer = make.officers["10001"]
    scores.set_self_assessment(case, "1.1.2", officer, now=now, score="1.5", explanation="x")
    db.session.commit()
    version, count = case.version, len(_score_events(db, case))
    assert scores.set_self_assessment(case, "1.1.2", officer, now=now, score="1,50", explanation=" x ") == {}
    db.session.commit()
    assert case.version == version and len(_score_events(db, case)) == count


def test_a_score_change_moves_the_case_version(make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    version = case.version
    scores.set_self_assessment(case, "1.1.2", make.officers["10001"], now=now, score=1)
    db.session.commit()
    assert case.version == version + 1
    with pytest.raises(Conflict):
        scores.set_self_assessment(case, "1.1.2", make.officers["10001"], now=now, score=2,
                                   expected_version=version)


@pytest.mark.parametrize("raw, reason", [
    ("2.01", "must be between 0 and 2.00"),
    ("-0,5", "must be between 0 and 2.00"),
    ("0.125", "at most two decimals"),
    ("1,005", "at most two decimals"),
    ("một", "not a number"),
    ("NaN", "not a number"),
    ("Infinity", "not a number"),
])
def test_bad_scores_are_refused(raw, reason, make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    with pytest.raises(InvalidInput) as info:
        scores.set_self_assessment(case, "1.1.2", make.officers["10001"], now=now, score=raw)
    assert info.value.errors == {"score": [reason]}
    assert _score_events(db, case) == []


@pytest.mark.parametrize("raw, stored", [("0,5", "0.50"), ("2", "2.00"), ("1.75", "1.75"), (0, "0.00"),
                                         (Decimal("1.2"), "1.20")])
def test_good_scores_are_stored_with_two_decimals(raw, stored, make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    scores.set_self_assessment(case, "1.1.2", make.officers["10001"], now=now, score=raw)
    db.session.commit()
    db.session.expire_all()
    assert str(db.session.scalar(select(Score.self_score).where(Score.case_id == case.id))) == stored


def test_items_take_only_their_own_method(make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    with pytest.raises(InvalidInput, match="survey"):
        scores.set_self_assessment(case, "2.2.1", make.officers["10001"], now=now, score=1)
    with pytest.raises(InvalidInput, match="not a survey"):
        scores.set_survey_points(case, "1.1.2", make.secretariat, now=now, points=1)
    with pytest.raises(InvalidInput, match="not a sub-criterion"):
        scores.set_self_assessment(case, "1.1", make.officers["10001"], now=now, score=1)
    with pytest.raises(NotFound):
        scores.set_self_assessment(case, "9.9.9", make.officers["10001"], now=now, score=1)
    make.advance(case, Stage.appraisal)
    with pytest.raises(InvalidInput, match="survey"):
        scores.set_appraisal(case, "2.2.1", make.secretariat, now=now, score=1)
    assert db.session.scalar(select(func.count()).select_from(Score).where(
        Score.case_id == case.id, Score.item.has(code="2.2.1"))) == 0


def test_not_applicable_only_where_the_criteria_allow_it(make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    scores.item_by_code(case, "1.1.2").not_applicable_allowed = False
    with pytest.raises(InvalidInput, match="not applicable"):
        scores.set_self_assessment(case, "1.1.2", make.officers["10001"], now=now, not_applicable=True)


def test_not_applicable_lowers_the_communes_own_maximum(make, db, now, campaign):
    case = make.case_of(campaign, "10001")
    other = make.case_of(campaign, "10002")
    officer = make.officers["10001"]
    make.advance(case, Stage.self_assessment)
    make.advance(other, Stage.self_assessment)
    # 1.1.1 (max 1, evidence required) does not apply to this commune: it does not block submit
    scores.set_self_assessment(case, "1.1.1", officer, now=now, not_applicable=True)
    scores.set_self_assessment(case, "1.1.2", officer, now=now, score=2, explanation="x")
    scores.set_self_assessment(case, "2.1.1", officer, now=now, score=2, explanation="x")
    assert cases.fire(case, "submit", officer, now=now).fired
    scores.set_appraisal(case, "1.1.2", make.secretariat, now=now, score="1,5")
    scores.set_appraisal(case, "2.1.1", make.secretariat, now=now, score="1,75")
    assert cases.fire(case, "complete_appraisal", make.secretariat, now=now).fired
    scores.set_survey_points(case, "2.2.1", make.secretariat, now=now, points="1,5")
    # the other commune scores the same but 0 on 1.1.1, which does apply to it
    make.fill_self(other)
    cases.fire(other, "submit", make.officers["10002"], now=now)
    for code, value in (("1.1.1", 0), ("1.1.2", "1.5"), ("2.1.1", "1.75")):
        scores.set_appraisal(other, code, make.secretariat, now=now, score=value)
    scores.set_survey_points(other, "2.2.1", make.secretariat, now=now, points="1,5")
    db.session.commit()

    totals = case_totals(case)
    # 1.5 + 1.75 + 1.5 = 4.75 of an own maximum 7 - 1 = 6: 79.1666... -> 79.17
    assert (totals.total, totals.own_max, totals.percentage) == (
        Decimal("4.75"), Decimal("6.00"), Decimal("79.17"))
    assert totals.self_total == Decimal("4.00")
    assert (totals.nodes["1"].own_max, totals.nodes["1"].final_total) == (Decimal("2.00"), Decimal("1.50"))
    assert (totals.nodes["1.1"].own_max, totals.nodes["2"].own_max) == (Decimal("2.00"), Decimal("4.00"))
    assert totals.nodes["2"].final_total == Decimal("3.25")
    assert totals.areas == ["1", "2"]

    theirs = case_totals(other)
    # 4.75 of the full 7: 67.857... -> 67.86
    assert (theirs.total, theirs.own_max, theirs.percentage) == (
        Decimal("4.75"), Decimal("7.00"), Decimal("67.86"))


def test_an_unscored_case_is_zero_percent_not_a_division_error(make, db, now, campaign):
    totals = case_totals(make.case_of(campaign, "10001"))
    assert (totals.total, totals.own_max, totals.percentage) == (Decimal("0.00"), Decimal("7.00"), Decimal("0.00"))
