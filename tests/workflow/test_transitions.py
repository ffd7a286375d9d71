"""Every transition of the chart through the real service: success, who may fire it, and every guard."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from models import AuditEvent, Deadline, DomainEvent, Evidence
from states import CHART, TRANSITIONS, Role, Stage
from workflow import cases, scores
from workflow.errors import Blocker, NotPermitted, TransitionRefused

# every plan date falls on a weekend or holiday, so each opened deadline shows the art. 148 roll
ROLLING_DUES = {
    "self_assessment": "2023-11-11",   # Saturday -> Monday 13
    "appraisal": "2023-12-16",         # Saturday -> Monday 18
    "survey": "2023-12-03",            # Sunday -> Monday 4
    "council_meeting": "2023-12-10",   # Sunday -> Monday 11
    "publication": "2023-12-31",       # Sunday, and 1 January is New Year's Day -> Tuesday 2 January
}
ROLLED = {
    "self_assessment": (dt.date(2023, 11, 11), dt.date(2023, 11, 13)),
    "appraisal": (dt.date(2023, 12, 16), dt.date(2023, 12, 18)),
    "survey": (dt.date(2023, 12, 3), dt.date(2023, 12, 4)),
    "council_meeting": (dt.date(2023, 12, 10), dt.date(2023, 12, 11)),
    "publication": (dt.date(2023, 12, 31), dt.date(2024, 1, 2)),
}
REVISION_DUE = dt.date(2023, 11, 25)  # a Saturday -> Monday 27


def _campaign(make):
    # sign-off is tested in test_signoff; here every transition fires directly
    return make.campaign(sign_off=(), dues=ROLLING_DUES)


def _ready(make, case, transition: str) -> dict:
    """Satisfy the transition's guards; returns the extra keyword arguments it needs."""
    if transition == "submit":
        make.fill_self(case)
    elif transition == "complete_appraisal":
        make.fill_appraisal(case)
    elif transition == "record_survey":
        make.fill_survey(case)
    if transition == "return_for_revision":
        return {"reason": "Thiếu tài liệu kiểm chứng 1.1.1", "revision_due": REVISION_DUE}
    if transition == "reopen":
        return {"reason": "Phúc tra theo đơn của xã"}
    return {}


def _actor(make, role: Role, code: str = "10001"):
    return {
        Role.secretariat: make.secretariat, Role.secretariat_head: make.head, Role.admin: make.admin,
        Role.commune_officer: make.officers[code], Role.commune_chair: make.chairs[code],
        Role.council_member: make.council[1], Role.council_chair: make.council[0],
        Role.authority_leader: make.leader, Role.auditor: make.auditor,
    }[role]


def _deadline(db, case, stage, kind="stage"):
    return db.session.scalars(select(Deadline).where(
        Deadline.case_id == case.id, Deadline.stage == stage, Deadline.kind == kind)
        .order_by(Deadline.round)).all()


def _transition_events(db, case):
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case.id, AuditEvent.action == "case.transition").order_by(AuditEvent.seq)).all()


# --- every transition succeeds with its effects ----------------------------------------------------

@pytest.mark.parametrize("spec", CHART, ids=lambda s: s.name)
def test_each_transition_moves_the_case_with_all_its_effects(spec, make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, spec.source)
    if spec.name == "reopen":
        assert case.stage == "publication"
    kwargs = _ready(make, case, spec.name)
    actor = make.officers["10001"] if spec.name == "submit" else make.admin if spec.name == "reopen" \
        else make.secretariat
    before_version = case.version
    before_events = len(_transition_events(db, case))

    result = cases.fire(case, spec.name, actor, now=now, **kwargs)
    db.session.commit()

    assert result.fired and (result.source, result.dest) == (spec.source.value, spec.dest.value)
    assert case.stage == spec.dest.value
    assert case.version > before_version
    events = _transition_events(db, case)
    assert len(events) == before_events + 1
    event = events[-1]
    assert event.subject == spec.name and event.actor == actor.email
    assert event.before == {"stage": spec.source.value}
    assert event.after["stage"] == spec.dest.value
    if kwargs.get("reason"):
        assert event.after["reason"] == kwargs["reason"]

    if spec.name == "return_for_revision":
        [revision] = _deadline(db, case, "self_assessment", kind="revision")
        assert (revision.plan_due, revision.due, revision.round) == (REVISION_DUE, dt.date(2023, 11, 27), 1)
        assert revision.completed_at is None
        assert event.after["revision_due"] == "2023-11-27"
    else:
        [opened] = _deadline(db, case, spec.dest.value)
        plan_due, due = ROLLED[spec.dest.value]
        assert (opened.plan_due, opened.due, opened.completed_at) == (plan_due, due, None)
        assert "art. 148" in opened.explanation
        assert event.after["due"] == due.isoformat()
    if spec.source != Stage.planning:  # planning has no deadline of its own
        left = _deadline(db, case, spec.source.value)
        assert left and all(d.completed_at == now for d in left)

    changed = db.session.scalars(select(DomainEvent).where(
        DomainEvent.case_id == case.id, DomainEvent.name == "StageChanged")).all()
    assert changed[-1].payload == {"transition": spec.name, "source": spec.source.value,
                                   "dest": spec.dest.value, "actor": actor.email, "actor_id": actor.id}


def test_a_whole_year_leaves_one_transition_event_per_arrow(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.publication)
    assert [e.subject for e in _transition_events(db, case)] == [
        "open", "submit", "complete_appraisal", "record_survey", "approve"]


# --- the matrix: stage x transition x role -----------------------------------------------------------

@pytest.mark.parametrize("name", list(TRANSITIONS))
@pytest.mark.parametrize("stage", list(Stage), ids=lambda s: s.value)
def test_matrix_only_the_charts_roles_fire_only_from_the_charts_stage(stage, name, make, db, now):
    """Every role in turn on one prepared case: each attempt, the one that fires too, is rolled back, so every
    role meets the same committed case (one world per stage and transition instead of one per role)."""
    spec = TRANSITIONS[name]
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, stage)
    kwargs = _ready(make, case, name) if stage == spec.source else {}
    db.session.commit()  # the prepared scores stay; only each attempt is rolled back
    version = case.version
    for role in Role:
        actor = _actor(make, role)
        try:
            if role not in spec.roles:
                with pytest.raises(NotPermitted):
                    cases.fire(case, name, actor, now=now, **kwargs)
            elif stage != spec.source:
                with pytest.raises(TransitionRefused) as info:
                    cases.fire(case, name, actor, now=now, **kwargs)
                assert info.value.blockers == [Blocker("", f"'{name}' cannot be fired from stage '{stage.value}'")]
            else:
                result = cases.fire(case, name, actor, now=now, **kwargs)
                assert result.fired and case.stage == spec.dest.value
            db.session.rollback()
            assert case.stage == stage.value and case.version == version
        except BaseException as exc:
            exc.add_note(f"role: {role.value}")
            raise


@pytest.mark.parametrize("stage", [Stage.self_assessment], ids=lambda s: s.value)
def test_a_commune_officer_cannot_act_on_another_communes_case(stage, make, db, now):
    campaign = _campaign(make)
    theirs = make.case_of(campaign, "10002")
    make.advance(theirs, stage)
    make.fill_self(theirs)
    for intruder in (make.officers["10001"], make.chairs["10001"]):
        with pytest.raises(NotPermitted, match="another commune"):
            cases.fire(theirs, "submit", intruder, now=now)
        with pytest.raises(NotPermitted):
            scores.set_self_assessment(theirs, "1.1.2", intruder, now=now, score=1)
    assert theirs.stage == "self_assessment"
    assert cases.fire(theirs, "submit", make.officers["10002"], now=now).fired


def test_the_auditor_is_refused_every_transition_and_every_edit(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    for name in TRANSITIONS:
        with pytest.raises(NotPermitted):
            cases.fire(case, name, make.auditor, now=now)
        assert all(TRANSITIONS[name].name != a for a, _ in cases.available_actions(case, make.auditor))
    with pytest.raises(NotPermitted):
        scores.set_survey_points(case, "2.2.1", make.auditor, now=now, points=1)


def test_a_disabled_account_cannot_fire(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.secretariat.active = False
    with pytest.raises(NotPermitted, match="disabled"):
        cases.fire(case, "open", make.secretariat, now=now)


# --- guards: every refusal lists all its reasons, by code --------------------------------------------

def _refusal(case, name, actor, now, **kwargs) -> list[str]:
    with pytest.raises(TransitionRefused) as info:
        cases.fire(case, name, actor, now=now, **kwargs)
    assert case.stage == TRANSITIONS[name].source.value
    return [str(b) for b in info.value.blockers]


def test_submit_with_nothing_scored_lists_every_self_assessed_item(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    # 2.2.1 is a survey item: the commune does not score it
    assert _refusal(case, "submit", make.officers["10001"], now) == [
        "1.1.1: no score", "1.1.2: no score", "2.1.1: no score"]


def test_submit_needs_evidence_or_an_explanation_where_required(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    officer = make.officers["10001"]
    for code in ("1.1.1", "1.1.2", "2.1.1"):
        scores.set_self_assessment(case, code, officer, now=now, score=1)
    assert _refusal(case, "submit", officer, now) == ["1.1.1: evidence required", "2.1.1: evidence required"]

    scores.set_self_assessment(case, "1.1.1", officer, now=now, explanation="Quyết định số 12/QĐ-UBND")
    item = scores.item_by_code(case, "2.1.1")
    db.session.add(Evidence(case_id=case.id, item_id=item.id, file_name="niem-yet.pdf", sha256="a" * 64,
                            size=10, media_type="application/pdf", uploaded_by_id=officer.id, uploaded_at=now))
    db.session.flush()
    assert cases.fire(case, "submit", officer, now=now).fired


def test_a_refusal_lists_all_blockers_at_once(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    scores.set_self_assessment(case, "1.1.1", make.officers["10001"], now=now, score="0,5")
    assert _refusal(case, "submit", make.officers["10001"], now) == [
        "1.1.1: evidence required", "1.1.2: no score", "2.1.1: no score"]


def test_a_removed_evidence_file_no_longer_counts(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    officer = make.officers["10001"]
    for code in ("1.1.1", "1.1.2", "2.1.1"):
        scores.set_self_assessment(case, code, officer, now=now, score=1, explanation="x" if code != "2.1.1" else None)
    item = scores.item_by_code(case, "2.1.1")
    db.session.add(Evidence(case_id=case.id, item_id=item.id, file_name="a.pdf", sha256="b" * 64, size=1,
                            media_type="application/pdf", uploaded_at=now, removed_at=now))
    db.session.flush()
    assert _refusal(case, "submit", officer, now) == ["2.1.1: evidence required"]


def test_complete_appraisal_lists_items_not_appraised(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    scores.set_appraisal(case, "1.1.2", make.secretariat, now=now, score="1,5")
    assert _refusal(case, "complete_appraisal", make.secretariat, now) == [
        "1.1.1: not appraised", "2.1.1: not appraised"]


def test_record_survey_needs_the_survey_points(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.survey)
    assert _refusal(case, "record_survey", make.secretariat, now) == ["2.2.1: no survey points"]


def test_return_for_revision_needs_a_reason_and_a_date(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    assert _refusal(case, "return_for_revision", make.secretariat, now, reason="   ") == [
        "a reason is required", "a revision deadline is required"]
    assert _refusal(case, "return_for_revision", make.secretariat, now, reason="Bổ sung",
                    revision_due=dt.date(2023, 10, 31)) == ["the revision deadline is in the past"]


def test_the_past_is_judged_by_the_local_date(make, db):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    # 20:00 UTC on 1 November is 03:00 on 2 November in Hà Nội: 1 November has passed there
    late_evening_utc = dt.datetime(2023, 11, 1, 20, 0, tzinfo=dt.UTC)
    assert _refusal(case, "return_for_revision", make.secretariat, late_evening_utc, reason="Bổ sung",
                    revision_due=dt.date(2023, 11, 1)) == ["the revision deadline is in the past"]
    assert cases.fire(case, "return_for_revision", make.secretariat, now=late_evening_utc, reason="Bổ sung",
                      revision_due=dt.date(2023, 11, 2)).fired


def test_reopen_is_for_an_admin_with_a_reason(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.publication)
    for not_admin in (make.head, make.secretariat, make.council[0], make.leader):
        with pytest.raises(NotPermitted):
            cases.fire(case, "reopen", not_admin, now=now, reason="Phúc tra")
    assert _refusal(case, "reopen", make.admin, now) == ["a reason is required"]
    assert cases.fire(case, "reopen", make.admin, now=now, reason="Phúc tra").fired
    assert case.stage == "council_meeting"


def test_readiness_explains_without_firing(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    version = case.version
    blockers = cases.readiness(case, "return_for_revision", make.secretariat, check_reason=True,
                               revision_due=dt.date(2023, 10, 1), now=now)
    assert [str(b) for b in blockers] == ["a reason is required", "the revision deadline is in the past"]
    assert [str(b) for b in cases.readiness(case, "submit")] == [
        "the case is in stage 'appraisal'; 'submit' is fired from 'self_assessment'"]
    assert case.stage == "appraisal" and case.version == version


# --- return for revision and resubmission ------------------------------------------------------------

def test_return_for_revision_then_resubmission(make, db, now):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    [appraisal_deadline] = _deadline(db, case, "appraisal")
    assert appraisal_deadline.completed_at is None

    cases.fire(case, "return_for_revision", make.head, now=now, reason="Thiếu minh chứng 2.1.1",
               revision_due=REVISION_DUE)
    db.session.commit()
    assert case.stage == "self_assessment"
    assert (case.revision_due, case.revision_reason) == (dt.date(2023, 11, 27), "Thiếu minh chứng 2.1.1")
    [revision] = _deadline(db, case, "self_assessment", kind="revision")
    assert (revision.kind, revision.round, revision.due, revision.completed_at) == (
        "revision", 1, dt.date(2023, 11, 27), None)
    assert _deadline(db, case, "appraisal")[0].completed_at == now
    returned = db.session.scalars(select(DomainEvent).where(
        DomainEvent.case_id == case.id, DomainEvent.name == "ReturnedForRevision")).one()
    assert returned.payload == {"reason": "Thiếu minh chứng 2.1.1", "revision_due": "2023-11-27"}

    later = now + dt.timedelta(days=3)
    scores.set_self_assessment(case, "2.1.1", make.officers["10001"], now=later, score=Decimal("1.5"))
    assert cases.fire(case, "submit", make.officers["10001"], now=later).fired
    db.session.commit()
    assert _deadline(db, case, "self_assessment", kind="revision")[0].completed_at == later
    assert _deadline(db, case, "appraisal")[0].completed_at is None  # the appraisal clock runs again
    assert case.revision_due is None and case.revision_reason is None

    # a second return opens round 2
    cases.fire(case, "return_for_revision", make.head, now=later, reason="Lần 2", revision_due=REVISION_DUE)
    rounds = _deadline(db, case, "self_assessment", kind="revision")
    assert [(d.round, d.completed_at is None) for d in rounds] == [(1, False), (2, True)]
