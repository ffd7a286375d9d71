"""The council's pages: the inbox per member, one sign-off (approve to quorum, reject with a comment),
approving several at once (one transaction each), and who may see what."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Signature, SignOff
from states import Stage
from tests.factories import NOW
from tests.web.helpers import PASSWORD, csrf_of, logged_in
from workflow import cases, evidence, scores, signoff

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def awaiting_council(make, db, code: str, *, with_evidence: bool = False):
    """Case ``code`` of the world's campaign in the council meeting, its 'approve' awaiting sign-off."""
    case = make.case_of(make.campaign_obj, code)
    make.advance(case, Stage.self_assessment)
    if with_evidence:
        evidence.add_evidence(case, "1.1.1", make.officers[code], now=NOW, file_name="Kế hoạch CCHC.pdf",
                              data=PDF, media_type="application/pdf", locator="trang 2")
        db.session.commit()
    make.advance(case, Stage.council_meeting)
    result = cases.fire(case, "approve", make.secretariat, now=NOW)
    assert not result.fired
    db.session.commit()
    return case


@pytest.fixture
def two_pending(world, db):
    a = awaiting_council(world, db, "10001", with_evidence=True)
    b = awaiting_council(world, db, "10002")
    return a, b


def rows(html: str, table: str = "pending") -> dict[int, str]:
    """sign-off id -> the row's HTML, from the inbox table ``table``."""
    body = re.search(rf'<table class="inbox" id="{table}">(.*?)</table>', html, re.S)
    if body is None:
        return {}
    return {int(m[1]): m[0] for m in re.finditer(r'<tr data-sign-off="(\d+)".*?</tr>', body.group(1), re.S)}


def sign_off_of(case) -> SignOff:
    return signoff.pending_for(case)


def page_url(so_id: int) -> str:
    return f"/council/sign-offs/{so_id}"


def post_sign(client, so_id: int, decision: str, comment: str = "", version=None):
    html = client.get(page_url(so_id)).get_data(as_text=True)
    if version is None:
        version = re.search(r'name="version" value="(\d+)"', html).group(1)
    return client.post(page_url(so_id), data={"csrf_token": csrf_of(html), "decision": decision,
                                              "comment": comment, "version": version})


def test_inbox_lists_each_members_pending_sign_offs_with_progress(app, world, db, two_pending):
    a, b = two_pending
    so_a, so_b = sign_off_of(a).id, sign_off_of(b).id
    member = logged_in(app, world.council[1])
    html = member.get("/council").get_data(as_text=True)
    pending = rows(html)
    assert set(pending) == {so_a, so_b}
    assert 'data-approvals="0" data-needed="2"' in pending[so_a]
    assert 'data-chair="missing"' in pending[so_a]
    assert 'data-transition="approve"' in pending[so_a]
    assert 'data-mine="none"' in pending[so_a]
    assert f'name="version-{so_a}" value="{a.version}"' in pending[so_a]
    assert "Xã 10001" in pending[so_a] and "Xã 10002" in pending[so_b]

    # the chair approves A: the chair's inbox marks it signed (no checkbox), the others see progress
    chair = logged_in(app, world.council[0])
    assert post_sign(chair, so_a, "approve").status_code == 303
    mine = rows(chair.get("/council").get_data(as_text=True))
    assert 'data-mine="approve"' in mine[so_a] and 'name="sign_off"' not in mine[so_a]
    assert 'name="sign_off"' in mine[so_b]
    theirs = rows(member.get("/council").get_data(as_text=True))
    assert 'data-approvals="1" data-needed="2"' in theirs[so_a]
    assert 'data-chair="signed"' in theirs[so_a]


def test_home_sends_council_members_to_the_inbox(app, world):
    client = logged_in(app, world.council[2])
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/council")


def test_sign_off_page_shows_what_the_member_signs_over(app, world, db, two_pending):
    a, _ = two_pending
    so = sign_off_of(a)
    html = logged_in(app, world.council[1]).get(page_url(so.id)).get_data(as_text=True)
    assert f'<code id="content-hash" class="hash">{signoff.content_hash(a)}</code>' in html
    for code in ("1.1.1", "1.1.2", "2.1.1", "2.2.1"):
        assert f'<tr data-code="{code}"' in html
    # appraised = max - 0.5 for self items, survey 1.5: 0.5 + 1.5 + 1.5 + 1.5 = 5.00 of 7.00
    assert re.search(r'id="total">5,00/7,00 \(71,43%\)', html)
    ev = evidence.evidence_of(a)[0]
    assert f'href="/cases/{a.id}/evidence/{ev.id}"' in html
    assert "Kế hoạch CCHC.pdf" in html
    assert f'name="version" value="{a.version}"' in html
    assert 'id="approve"' in html and 'id="reject"' in html


def test_approving_to_quorum_moves_the_case_and_empties_the_inbox(app, world, db, two_pending):
    a, b = two_pending
    so_a = sign_off_of(a).id
    chair, member, third = (logged_in(app, u) for u in world.council)
    assert post_sign(chair, so_a, "approve", "Đồng ý").status_code == 303
    db.session.expire_all()
    assert a.stage == Stage.council_meeting.value  # 1 of 2 approvals
    response = post_sign(member, so_a, "approve")
    assert response.status_code == 303 and response.headers["Location"].endswith("/council")
    db.session.expire_all()
    assert a.stage == Stage.publication.value
    assert db.session.get(SignOff, so_a).status == "approved"
    signed = db.session.scalars(select(Signature).where(Signature.sign_off_id == so_a)).all()
    assert {s.content_sha256 for s in signed} == {signoff.content_hash(a)}
    html = third.get("/council").get_data(as_text=True)
    assert so_a not in rows(html)
    assert 'data-status="approved"' in rows(html, "closed")[so_a]
    # B still waits; once it too is approved, the inbox is empty
    so_b = sign_off_of(b).id
    post_sign(chair, so_b, "approve")
    post_sign(member, so_b, "approve")
    assert 'id="inbox-empty"' in third.get("/council").get_data(as_text=True)


def test_reject_needs_a_comment_and_keeps_the_case(app, world, db, two_pending):
    a, _ = two_pending
    so_id = sign_off_of(a).id
    member = logged_in(app, world.council[1])
    response = post_sign(member, so_id, "reject", "   ")
    assert response.status_code == 400
    assert 'data-error="comment"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Signature.id))) == 0

    response = post_sign(member, so_id, "reject", "Điểm 1.1.1 chưa có tài liệu kiểm chứng")
    assert response.status_code == 303
    db.session.expire_all()
    so = db.session.get(SignOff, so_id)
    assert so.status == "rejected" and so.outcome_reason == "Điểm 1.1.1 chưa có tài liệu kiểm chứng"
    assert a.stage == Stage.council_meeting.value
    closed = rows(member.get("/council").get_data(as_text=True), "closed")
    assert 'data-status="rejected"' in closed[so_id] and 'data-mine="reject"' in closed[so_id]


def test_a_stale_page_gets_the_conflict_page_and_signs_nothing(app, world, db, two_pending):
    a, _ = two_pending
    so_id = sign_off_of(a).id
    response = post_sign(logged_in(app, world.council[1]), so_id, "approve", version=a.version - 1)
    assert response.status_code == 409
    assert 'data-error="409"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Signature.id))) == 0


def test_a_decision_other_than_approve_or_reject_is_refused_beside_the_field(app, world, db, two_pending):
    a, _ = two_pending
    response = post_sign(logged_in(app, world.council[1]), sign_off_of(a).id, "maybe", "hmm")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'data-error="decision"' in html and ">hmm</textarea>" in html


def bulk(client, ids, *, html=None, **extra):
    html = html or client.get("/council").get_data(as_text=True)
    data = {"csrf_token": csrf_of(html), "sign_off": [str(i) for i in ids], **extra}
    for so_id in ids:
        found = re.search(rf'name="version-{so_id}" value="(\d+)"', html)
        if found:
            data[f"version-{so_id}"] = found.group(1)
    return client.post("/council/approve", data=data)


def outcomes(html: str) -> dict[int, str]:
    return {int(m[1]): m[2] for m in re.finditer(r'data-sign-off="(\d+)" data-outcome="(\w+)"', html)}


def test_approve_selected_signs_both(app, world, db, two_pending):
    a, b = two_pending
    ids = [sign_off_of(a).id, sign_off_of(b).id]
    response = bulk(logged_in(app, world.council[0]), ids, comment="Thống nhất")
    assert response.status_code == 200
    assert outcomes(response.get_data(as_text=True)) == {ids[0]: "approved", ids[1]: "approved"}
    signed = db.session.scalars(select(Signature)).all()
    assert sorted(s.sign_off_id for s in signed) == sorted(ids)
    assert {s.comment for s in signed} == {"Thống nhất"}
    assert {s.user_id for s in signed} == {world.council[0].id}


def test_approve_selected_reports_a_stale_item_and_keeps_the_other(app, world, db, two_pending):
    a, b = two_pending
    so_a, so_b = sign_off_of(a).id, sign_off_of(b).id
    chair = logged_in(app, world.council[0])
    inbox = chair.get("/council").get_data(as_text=True)
    # meanwhile another member signs B: B's case version moves on after the chair's inbox was read
    signoff.sign(b, world.council[2], "approve", now=NOW, comment="Đồng ý")
    db.session.commit()
    response = bulk(chair, [so_a, so_b], html=inbox)
    html = response.get_data(as_text=True)
    assert outcomes(html) == {so_a: "approved", so_b: "changed"}
    db.session.expire_all()
    assert [s.user_id for s in db.session.get(SignOff, so_a).signatures] == [world.council[0].id]
    assert [s.user_id for s in db.session.get(SignOff, so_b).signatures] == [world.council[2].id]
    # from a fresh inbox the chair's approval of B reaches the quorum and moves that case
    again = bulk(chair, [so_b])
    assert outcomes(again.get_data(as_text=True)) == {so_b: "fired"}
    db.session.expire_all()
    assert b.stage == Stage.publication.value and a.stage == Stage.council_meeting.value


def test_approve_selected_reports_closed_and_already_signed(app, world, db, two_pending):
    a, b = two_pending
    so_a, so_b = sign_off_of(a).id, sign_off_of(b).id
    member = logged_in(app, world.council[1])
    inbox = member.get("/council").get_data(as_text=True)
    signoff.sign(a, world.council[2], "reject", now=NOW, comment="Chưa đạt")  # A closes
    signoff.sign(b, world.council[1], "approve", now=NOW)  # the member signed B elsewhere (CLI)
    db.session.commit()
    versions = {so_a: "999", so_b: str(b.version)}  # fresh versions: only the status decides
    data = {"csrf_token": csrf_of(inbox), "sign_off": [str(so_a), str(so_b)],
            **{f"version-{k}": v for k, v in versions.items()}}
    html = member.post("/council/approve", data=data).get_data(as_text=True)
    assert outcomes(html) == {so_a: "closed", so_b: "already_signed"}
    assert db.session.scalar(select(func.count(Signature.id))) == 2


def test_approve_selected_without_a_selection_signs_nothing(app, world, db, two_pending):
    response = bulk(logged_in(app, world.council[0]), [])
    assert response.status_code == 303
    assert db.session.scalar(select(func.count(Signature.id))) == 0


def test_non_members_get_403_everywhere(app, world, db, two_pending):
    a, _ = two_pending
    so_id = sign_off_of(a).id
    for user in (world.officers["10001"], world.secretariat, world.head, world.auditor, world.admin,
                 world.leader):
        client = logged_in(app, user)
        assert client.get("/council").status_code == 403, user.email
        assert client.get(page_url(so_id)).status_code == 403, user.email
        token = csrf_of(client.get("/cases").get_data(as_text=True))
        assert client.post(page_url(so_id), data={"csrf_token": token, "decision": "approve",
                                                  "version": a.version}).status_code == 403, user.email
        assert client.post("/council/approve", data={"csrf_token": token, "sign_off": [so_id],
                                                     f"version-{so_id}": a.version}).status_code == 403
    assert db.session.scalar(select(func.count(Signature.id))) == 0


def test_logged_out_is_sent_to_log_in(app, world):
    response = app.test_client().get("/council")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_member_of_another_campaign_sees_nothing(app, world, db, two_pending):
    a, _ = two_pending
    so_id = sign_off_of(a).id
    first_council = list(world.council)
    world.campaign("other-2023", communes=("20001",))
    outsider = world.council[1]
    outsider.set_password(PASSWORD)
    db.session.commit()
    world.council = first_council
    client = logged_in(app, outsider)
    html = client.get("/council").get_data(as_text=True)
    assert 'id="inbox-empty"' in html and "Xã 10001" not in html
    assert client.get(page_url(so_id)).status_code == 404
    response = bulk(client, [so_id], **{f"version-{so_id}": str(a.version)})
    assert outcomes(response.get_data(as_text=True)) == {so_id: "not_found"}
    token = csrf_of(html)
    assert client.post(page_url(so_id), data={"csrf_token": token, "decision": "approve",
                                              "version": a.version}).status_code == 404
    assert db.session.scalar(select(func.count(Signature.id))) == 0
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.action == "signoff.signed")) == 0


def test_a_guard_no_longer_met_is_reported_with_its_blockers_and_signs_nothing(app, make, db):
    """Appraisal under sign-off: an appraised score cleared after the request blocks the last approval."""
    campaign = make.campaign("gate-2023", communes=("30001",), sign_off=("complete_appraisal",))
    for user in make.council:
        user.set_password(PASSWORD)
    case = make.case_of(campaign, "30001")
    make.advance(case, Stage.appraisal)
    make.fill_appraisal(case)
    assert not cases.fire(case, "complete_appraisal", make.secretariat, now=NOW).fired
    signoff.sign(case, make.council[0], "approve", now=NOW)  # the chair
    scores.set_appraisal(case, "1.1.2", make.secretariat, now=NOW, score="")  # cleared meanwhile
    db.session.commit()
    so_id = signoff.pending_for(case).id
    member = logged_in(app, make.council[1])
    html = bulk(member, [so_id]).get_data(as_text=True)
    assert outcomes(html) == {so_id: "blocked"}
    assert re.search(r'data-outcome="blocked".*?<code>1\.1\.2</code>', html, re.S)
    response = post_sign(member, so_id, "approve")
    assert response.status_code == 400
    assert '<li data-code="1.1.2">' in response.get_data(as_text=True)
    db.session.expire_all()
    assert case.stage == Stage.appraisal.value
    assert [s.user_id for s in db.session.get(SignOff, so_id).signatures] == [make.council[0].id]


def test_the_inbox_in_english(app, world, db, two_pending):
    client = logged_in(app, world.council[1])
    client.get("/lang/en")
    html = client.get("/council").get_data(as_text=True)
    assert '<html lang="en">' in html and "Approve selected" in html
    assert "approve the result for publication" in html
    assert "<script>" not in html and 'src="/static/js/council.js"' in html
