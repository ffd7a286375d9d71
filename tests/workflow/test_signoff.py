"""Council sign-off: quorum, the chair, rejections, and the content each member signed over."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import AuditEvent, CouncilSeat, Signature, SignOff
from states import Role, Stage
from workflow import cases, scores, signoff
from workflow.errors import InvalidInput, NotFound, NotPermitted, TransitionRefused


def _actions(db, case, since_seq=0):
    return [(e.action, e.subject) for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case.id, AuditEvent.seq > since_seq).order_by(AuditEvent.seq))]


def _last_seq(db):
    return db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))


def _at_council(make, db, now, **campaign_kwargs):
    campaign = make.campaign(**campaign_kwargs)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.council_meeting)
    result = cases.fire(case, "approve", make.secretariat, now=now)
    db.session.commit()
    assert not result.fired and result.sign_off is not None
    return campaign, case, result.sign_off


@pytest.mark.parametrize("quorum, members, needed", [
    ("2/3", 3, 2), ("2/3", 4, 3), ("1/2", 4, 2), ("1/2", 5, 3), ("3", 7, 3), (2, 5, 2), ("1/3", 1, 1)])
def test_quorum_is_a_fraction_rounded_up_or_a_whole_number(quorum, members, needed):
    assert signoff.quorum_needed(quorum, members) == needed


def test_approve_under_sign_off_opens_a_request_instead_of_moving(make, db, now):
    campaign, case, sign_off = _at_council(make, db, now)
    assert case.stage == "council_meeting"
    assert sign_off.status == "pending" and sign_off.transition == "approve"
    assert sign_off.requested_by_id == make.secretariat.id
    # a second request while one is pending is refused with the progress so far
    with pytest.raises(TransitionRefused, match="awaiting council sign-off of 'approve': 0 of 2"):
        cases.fire(case, "approve", make.head, now=now)


def test_below_quorum_nothing_moves_and_the_chairs_approval_fires(make, db, now):
    campaign, case, sign_off = _at_council(make, db, now)  # 3 members, 2/3 -> 2, chair required
    chair, member = make.council[0], make.council[1]
    seq = _last_seq(db)

    signoff.sign(case, member, "approve", now=now, comment="Đồng ý")
    db.session.commit()
    assert case.stage == "council_meeting" and sign_off.status == "pending"
    assert signoff.progress(sign_off).summary() == "1 of 2 approvals needed (3 members); chair not yet signed"

    signoff.sign(case, chair, "approve", now=now)
    db.session.commit()
    assert case.stage == "publication" and sign_off.status == "approved" and sign_off.closed_at == now
    assert _actions(db, case, seq) == [
        ("signoff.signed", "approve"), ("signoff.signed", "approve"), ("signoff.closed", "approve"),
        # reaching publication drafts the commune's remediation plan in the same transaction
        ("case.transition", "approve"), ("remediation.drafted", "plan:1")]
    transition = db.session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case.id, AuditEvent.action == "case.transition").order_by(AuditEvent.seq.desc())
    ).first()
    assert transition.actor == chair.email
    assert transition.after["sign_off_id"] == sign_off.id and transition.after["stage"] == "publication"


def test_quorum_without_the_chair_is_not_enough_when_the_chair_is_required(make, db, now):
    campaign, case, sign_off = _at_council(make, db, now, council_size=4)  # 2/3 of 4 -> 3
    chair, others = make.council[0], make.council[1:]
    for member in others:
        signoff.sign(case, member, "approve", now=now)
    db.session.commit()
    progress = signoff.progress(sign_off)
    assert (progress.approvals, progress.needed, progress.chair_approved, progress.reached) == (3, 3, False, False)
    assert case.stage == "council_meeting"
    assert [str(b) for b in cases.readiness(case, "approve")] == [
        "awaiting council sign-off of 'approve': 3 of 3 approvals needed (4 members); chair not yet signed"]

    signoff.sign(case, chair, "approve", now=now)
    db.session.commit()
    assert case.stage == "publication"


def test_without_chair_required_the_quorum_alone_fires(make, db, now):
    campaign, case, sign_off = _at_council(make, db, now, council_size=4, chair_required=False)
    for member in make.council[1:3]:
        signoff.sign(case, member, "approve", now=now)
    assert case.stage == "council_meeting"
    signoff.sign(case, make.council[3], "approve", now=now)
    assert case.stage == "publication" and sign_off.status == "approved"


def test_a_rejection_needs_a_comment_closes_the_request_and_leaves_the_case(make, db, now):
    campaign, case, sign_off = _at_council(make, db, now)
    member = make.council[1]
    with pytest.raises(InvalidInput, match="comment"):
        signoff.sign(case, member, "reject", now=now, comment="  ")
    db.session.rollback()
    seq = _last_seq(db)
    signoff.sign(case, member, "reject", now=now, comment="Điểm 2.1.1 chưa đủ căn cứ")
    db.session.commit()
    assert case.stage == "council_meeting"
    assert (sign_off.status, sign_off.outcome_reason) == ("rejected", "Điểm 2.1.1 chưa đủ căn cứ")
    assert _actions(db, case, seq) == [("signoff.signed", "approve"), ("signoff.closed", "approve")]
    assert signoff.pending_for(case) is None
    with pytest.raises(NotFound):
        signoff.sign(case, make.council[0], "approve", now=now)
    # the secretariat may ask again after fixing things
    again = cases.fire(case, "approve", make.secretariat, now=now)
    assert again.sign_off is not None and again.sign_off.id != sign_off.id


def test_a_member_cannot_sign_twice_and_a_non_member_cannot_sign(make, db, now):
    campaign, case, sign_off = _at_council(make, db, now)
    signoff.sign(case, make.council[1], "approve", now=now)
    with pytest.raises(InvalidInput, match="already signed"):
        signoff.sign(case, make.council[1], "approve", now=now)
    for outsider in (make.secretariat, make.leader, make.officers["10001"]):
        with pytest.raises(NotPermitted):
            signoff.sign(case, outsider, "approve", now=now)
    # a council member of another campaign holds no seat here
    stranger = make.user("council-elsewhere@example.vn", *make.council[1].roles)
    with pytest.raises(NotPermitted):
        signoff.sign(case, stranger, "approve", now=now)
    with pytest.raises(InvalidInput):
        signoff.sign(case, make.council[2], "maybe", now=now)
    assert len(sign_off.signatures) == 1


def test_a_chair_seat_elsewhere_does_not_count_as_the_chair(make, db, now):
    campaign, case, sign_off = _at_council(make, db, now)
    # council[1] holds the council_chair role (chairs another council) but not this campaign's chair seat
    make.council[1].grant(Role.council_chair)
    signoff.sign(case, make.council[1], "approve", now=now)
    signoff.sign(case, make.council[2], "approve", now=now)
    assert signoff.progress(sign_off).chair_approved is False and case.stage == "council_meeting"


def test_each_signature_stores_the_hash_of_what_was_signed(make, db, now):
    campaign = make.campaign(sign_off=("complete_appraisal", "approve"))
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    make.fill_appraisal(case)
    opened = cases.fire(case, "complete_appraisal", make.secretariat, now=now)
    assert not opened.fired and opened.sign_off.transition == "complete_appraisal"
    first_hash = signoff.content_hash(case)
    signoff.sign(case, make.council[1], "approve", now=now)
    assert signoff.content_hash(case) == first_hash  # signing changes no content

    scores.set_appraisal(case, "1.1.2", make.secretariat, now=now, score="1,25")
    second_hash = signoff.content_hash(case)
    assert second_hash != first_hash
    signoff.sign(case, make.council[0], "approve", now=now)
    db.session.commit()
    stored = db.session.scalars(select(Signature.content_sha256).order_by(Signature.id)).all()
    assert stored == [first_hash, second_hash]
    assert case.stage == "survey"
    signed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signoff.signed")
                                .order_by(AuditEvent.seq)).all()
    assert [e.after["content_sha256"] for e in signed] == [first_hash, second_hash]


def test_complete_appraisal_under_sign_off_rechecks_its_guard_when_the_quorum_fires(make, db, now):
    campaign = make.campaign(sign_off=("complete_appraisal",))
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    make.fill_appraisal(case)
    sign_off = cases.fire(case, "complete_appraisal", make.secretariat, now=now).sign_off
    signoff.sign(case, make.council[1], "approve", now=now)
    db.session.commit()
    # the appraised score is cleared while the council deliberates
    scores.set_appraisal(case, "2.1.1", make.secretariat, now=now, score="")
    db.session.commit()
    with pytest.raises(TransitionRefused, match="2.1.1: not appraised"):
        signoff.sign(case, make.council[0], "approve", now=now)
    db.session.rollback()
    assert case.stage == "appraisal" and sign_off.status == "pending"
    assert db.session.scalar(select(SignOff.status).where(SignOff.id == sign_off.id)) == "pending"


def test_while_a_sign_off_is_pending_the_case_cannot_leave_by_another_arrow(make, db, now):
    campaign = make.campaign(sign_off=("complete_appraisal",))
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    make.fill_appraisal(case)
    cases.fire(case, "complete_appraisal", make.secretariat, now=now)
    with pytest.raises(TransitionRefused, match="awaiting council sign-off of 'complete_appraisal'"):
        cases.fire(case, "return_for_revision", make.secretariat, now=now, reason="Bổ sung",
                   revision_due=now.date())
    assert case.stage == "appraisal"
    # rejected, the way back is open again
    signoff.sign(case, make.council[1], "reject", now=now, comment="Trả lại xã bổ sung")
    assert cases.fire(case, "return_for_revision", make.secretariat, now=now, reason="Bổ sung",
                      revision_due=now.date()).fired


def test_pending_for_member_lists_what_each_member_still_has_to_sign(make, db, now):
    campaign, case, sign_off = _at_council(make, db, now)
    assert [s.id for s in signoff.pending_for_member(make.council[2])] == [sign_off.id]
    signoff.sign(case, make.council[2], "approve", now=now)
    assert signoff.pending_for_member(make.council[2]) == []
    assert [s.id for s in signoff.pending_for_member(make.council[0])] == [sign_off.id]
    seats = db.session.scalars(select(CouncilSeat).where(CouncilSeat.campaign_id == campaign.id)).all()
    assert sum(s.is_chair for s in seats) == 1


def test_a_disabled_member_cannot_sign_nor_a_disabled_officer_score(make, db, now):
    campaign, case, sign_off = _at_council(make, db, now)
    make.council[1].active = False
    with pytest.raises(NotPermitted, match="disabled"):
        signoff.sign(case, make.council[1], "approve", now=now)
    other = make.case_of(campaign, "10002")
    make.advance(other, Stage.self_assessment)
    make.officers["10002"].active = False
    with pytest.raises(NotPermitted, match="disabled"):
        scores.set_self_assessment(other, "1.1.2", make.officers["10002"], now=now, score=1)
    assert sign_off.signatures == []
