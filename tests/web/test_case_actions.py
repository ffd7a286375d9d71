"""The transition endpoint (case_actions.fire) and evidence downloads, through the real pages and forms."""

import re

import pytest
from sqlalchemy import func, select

from models import AuditEvent
from states import Stage
from tests.web.helpers import csrf_of, logged_in
from workflow import assessment_forms, evidence, scores
from workflow.clock import utcnow

PDF = b"%PDF-1.4\n% bien ban\n"



def _case(world, code="10001"):
    return world.case_of(world.campaign_obj, code)


def _state(db, case):
    """What a post may change: stage, version, number of audit events."""
    db.session.expire_all()
    events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case.id))
    return case.stage, case.version, events


def _post(client, case, name, data=None, *, page=None, token=True):
    """Post the transition form as the case page would: CSRF token from a page, version of the case."""
    form = {"version": str(case.version), **(data or {})}
    if token:
        form["csrf_token"] = csrf_of(client.get(page or f"/cases/{case.id}").get_data(as_text=True))
    return client.post(f"/cases/{case.id}/transitions/{name}", data=form)


def test_submit_moves_the_stage_and_goes_to_next(app, world, db):
    case = _case(world)
    world.fill_self(case)
    db.session.commit()
    client = logged_in(app, world.officers["10001"])
    response = _post(client, case, "submit", {"next": f"/cases/{case.id}?as_of=2023-11-06"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/cases/{case.id}?as_of=2023-11-06"
    db.session.expire_all()
    assert case.stage == "appraisal"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.case_id == case.id)
                              .order_by(AuditEvent.seq.desc()).limit(1))
    assert (event.action, event.subject, event.actor) == ("case.transition", "submit", world.officers["10001"].email)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="flash success"' in html
    assert re.findall(r'data-stage="(\w+)" data-state="current"', html) == ["appraisal"]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "cases/1",
                                    "javascript:alert(1)"])
def test_only_a_local_next_is_honoured(app, world, db, target):
    case = _case(world)
    world.fill_self(case)
    db.session.commit()
    response = _post(logged_in(app, world.officers["10001"]), case, "submit", {"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/cases/{case.id}"


def test_refusal_goes_back_and_the_page_shows_the_blockers_once(app, world, db):
    case = _case(world)
    before = _state(db, case)
    client = logged_in(app, world.officers["10001"])
    response = _post(client, case, "submit")
    assert response.status_code == 303 and response.headers["Location"] == f"/cases/{case.id}"
    assert _state(db, case) == before
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    refusal = re.search(r'<section class="refusal" id="refusal" role="alert" data-transition="submit">.*?</section>',
                        html, re.S)
    assert refusal, "the refusal is shown"
    assert re.findall(r'<li data-code="([\d.]+)">', refusal.group(0)) == ["1.1.1", "1.1.2", "2.1.1"]
    # and beside the items at fault in the scores table
    assert 'class="leaf refused"' in re.search(r'<tr id="item-1\.1\.1".*?</tr>', html, re.S).group(0)
    assert 'id="refusal"' not in client.get(f"/cases/{case.id}").get_data(as_text=True)


def test_stale_version_gives_the_409_page_and_changes_nothing(app, world, db, now):
    case = _case(world)
    world.fill_self(case)
    db.session.commit()
    client = logged_in(app, world.officers["10001"])
    token = csrf_of(client.get(f"/cases/{case.id}").get_data(as_text=True))
    stale = case.version
    # meanwhile someone else edits the case
    scores.set_self_assessment(case, "1.1.2", world.officers["10001"], now=now, explanation="Đã sửa")
    db.session.commit()
    before = _state(db, case)
    assert before[1] != stale
    response = client.post(f"/cases/{case.id}/transitions/submit",
                           data={"csrf_token": token, "version": str(stale)},
                           headers={"Referer": f"http://localhost/cases/{case.id}"})
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert 'data-error="409"' in body and f'href="http://localhost/cases/{case.id}" id="reload"' in body
    assert _state(db, case) == before


def test_missing_csrf_token_is_400(app, world, db):
    case = _case(world)
    world.fill_self(case)
    db.session.commit()
    before = _state(db, case)
    response = _post(logged_in(app, world.officers["10001"]), case, "submit", token=False)
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)
    assert _state(db, case) == before


def test_officer_of_another_commune_gets_404_and_nothing_changes(app, world, db):
    case = _case(world)
    world.fill_self(case)
    db.session.commit()
    before = _state(db, case)
    client = logged_in(app, world.officers["10002"])
    response = _post(client, case, "submit", page="/cases")
    assert response.status_code == 404
    assert _state(db, case) == before
    assert client.post("/cases/999999/transitions/submit",
                       data={"csrf_token": csrf_of(client.get("/cases").get_data(as_text=True))}
                       ).status_code == 404


def test_secretariat_opens_a_case_in_planning(app, world, db):
    b = _case(world, "10002")
    client = logged_in(app, world.secretariat)
    html = client.get(f"/cases/{b.id}").get_data(as_text=True)
    assert 'data-action="open" data-state="enabled"' in html
    assert re.search(r'<dd id="deadline"\s*>\s*–', html)  # the plan sets no due date for planning
    response = _post(client, b, "open")
    assert response.status_code == 303
    db.session.expire_all()
    assert b.stage == "self_assessment"
    assert 'data-due="2023-11-10"' in client.get(f"/cases/{b.id}").get_data(as_text=True)


def test_unknown_transition_is_404(app, world):
    case = _case(world)
    client = logged_in(app, world.secretariat)
    assert _post(client, case, "publish_everything").status_code == 404


@pytest.mark.parametrize("who", ["auditor", "council_member", "secretariat", "leader"])
def test_a_role_without_the_transition_gets_a_refusal(app, world, db, who):
    case = _case(world)
    world.fill_self(case)
    db.session.commit()
    user = {"auditor": world.auditor, "council_member": world.council[1], "secretariat": world.secretariat,
            "leader": world.leader}[who]
    before = _state(db, case)
    client = logged_in(app, user)
    response = _post(client, case, "submit")
    assert response.status_code == 303
    assert _state(db, case) == before
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="refusal"' in html and 'data-transition="submit"' in html


def test_return_for_revision_with_reason_and_date(app, world, db):
    case = _case(world)
    world.advance(case, Stage.appraisal)
    client = logged_in(app, world.secretariat)
    # the form offers the default, 5 working days on the campaign's calendar, as the appraisal form does
    offered = assessment_forms.default_revision_due(case, utcnow())
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert re.search(rf'name="revision_due" required\s+value="{offered.isoformat()}"', html)
    assert f"Mặc định: 5 ngày làm việc kể từ hôm nay ({offered:%d/%m/%Y})" in html
    # no reason: refused, and the date the user typed is kept in the form
    response = _post(client, case, "return_for_revision", {"revision_due": "2099-01-15"})
    assert response.status_code == 303
    assert case.stage == "appraisal"
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'data-transition="return_for_revision"' in html
    assert re.search(r'name="revision_due" required\s+value="2099-01-15"', html)
    # not a date: refused with its own reason, the typed reason kept
    _post(client, case, "return_for_revision", {"reason": "Bổ sung 1.1.1", "revision_due": "15/01/2099"})
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="refusal"' in html and ">Bổ sung 1.1.1</textarea>" in html
    before = _state(db, case)
    assert before[0] == "appraisal"
    response = _post(client, case, "return_for_revision",
                     {"reason": "Thiếu tài liệu kiểm chứng", "revision_due": "2099-01-15"})
    assert response.status_code == 303
    db.session.expire_all()
    assert case.stage == "self_assessment" and case.revision_reason == "Thiếu tài liệu kiểm chứng"
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Thiếu tài liệu kiểm chứng" in re.search(r'<dd id="revision">.*?</dd>', html, re.S).group(0)
    # the message says what happened: returned, not "moved to the next stage"
    assert "Xong: hồ sơ đã được trả lại xã để bổ sung, hạn 15/01/2099." in html
    # and the deadline the case now has says where its date came from: the return, not the plan
    assert "hạn 15/01/2099: hạn bổ sung đặt khi trả hồ sơ" in html and "theo kế hoạch" not in html


def test_under_sign_off_the_post_opens_a_sign_off(app, world, db):
    case = _case(world)
    world.advance(case, Stage.council_meeting)
    client = logged_in(app, world.secretariat)
    response = _post(client, case, "approve")
    assert response.status_code == 303
    db.session.expire_all()
    assert case.stage == "council_meeting"
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'data-status="pending"' in html


# --- evidence downloads -----------------------------------------------------------------------------------

@pytest.fixture
def files(world, db, now):
    a, b = _case(world), _case(world, "10002")
    world.advance(b, Stage.self_assessment)
    mine = evidence.add_evidence(a, "1.1.1", world.officers["10001"], now=now, file_name="Kế hoạch CCHC.pdf",
                                 data=PDF, media_type="application/pdf", locator="trang 2")
    theirs = evidence.add_evidence(b, "1.1.1", world.officers["10002"], now=now, file_name="b.pdf",
                                   data=PDF + b"b", media_type=None)
    db.session.commit()
    return a, b, mine, theirs


def test_download_gives_the_bytes_as_an_attachment_in_a_sandbox(app, world, files):
    a, _b, mine, _theirs = files
    for user in (world.officers["10001"], world.secretariat, world.auditor):
        response = logged_in(app, user).get(f"/cases/{a.id}/evidence/{mine.id}")
        assert response.status_code == 200
        assert response.data == PDF
        assert response.headers["Content-Disposition"].startswith("attachment;")
        # the Vietnamese name survives (RFC 5987), with an ASCII fallback for old clients
        assert "filename*=UTF-8''K%E1%BA%BF%20ho%E1%BA%A1ch%20CCHC.pdf" in response.headers["Content-Disposition"]
        assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_download_is_404_for_another_commune_and_for_another_cases_file(app, world, files):
    a, b, mine, theirs = files
    officer_b = logged_in(app, world.officers["10002"])
    assert officer_b.get(f"/cases/{a.id}/evidence/{mine.id}").status_code == 404
    assert officer_b.get(f"/cases/{b.id}/evidence/{theirs.id}").status_code == 200
    officer_a = logged_in(app, world.officers["10001"])
    # B's file through A's case (which A may see) is still not A's
    assert officer_a.get(f"/cases/{a.id}/evidence/{theirs.id}").status_code == 404
    assert officer_a.get(f"/cases/{a.id}/evidence/999999").status_code == 404
    assert app.test_client().get(f"/cases/{a.id}/evidence/{mine.id}").status_code == 302  # log in first
