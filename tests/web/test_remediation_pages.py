"""The remediation plan page: the officer fills in and submits, the secretariat returns and marks done,
another commune sees nothing; downloads; last year's items on next year's self-assessment form."""

from __future__ import annotations

import datetime as dt
import io

import docx
import pytest
from sqlalchemy import select

from models import AuditEvent, User
from states import Stage
from tests.web.helpers import csrf_of, item_block, logged_in, password_hash
from tests.workflow.test_remediation import next_year
from workflow import cases, remediation
from workflow.remediation import ItemRow


@pytest.fixture
def published(make, db):
    """Commune 10001 of the tiny campaign published (four items lost); everyone has PASSWORD."""
    campaign = make.campaign()
    case = make.advance(make.case_of(campaign, "10001"), Stage.publication)
    for user in db.session.scalars(select(User)):
        user.password_hash = password_hash()
    db.session.commit()
    return case


# the pages use the real clock: a due date the officer may still choose
DUE = (dt.date.today() + dt.timedelta(days=90)).isoformat()


def _form(plan, due=DUE, **override):
    data = {"plan_version": str(plan.version), "items": [str(i.id) for i in plan.items]}
    for i in plan.items:
        data[f"responsible-{i.id}"] = "Công chức Văn phòng - Thống kê"
        data[f"action-{i.id}"] = f"Khắc phục mục {i.code}"
        data[f"due-{i.id}"] = due
    data.update(override)
    return data


def test_officer_fills_in_and_submits_the_plan(app, db, make, published):
    client = logged_in(app, make.officers["10001"])
    case_page = client.get(f"/cases/{published.id}").get_data(as_text=True)
    assert f'href="/cases/{published.id}/remediation"' in case_page
    assert "Lập dự thảo kế hoạch khắc phục" in case_page  # the timeline names the event in Vietnamese
    url = f"/cases/{published.id}/remediation"
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-items="4"' in html and 'id="submit-plan"' in html
    plan = remediation.plan_of(published)
    token = csrf_of(html)

    # submitting an empty plan is refused, naming every item
    response = client.post(f"{url}/submit", data={"csrf_token": token, "plan_version": plan.version},
                           follow_redirects=True)
    body = response.get_data(as_text=True)
    assert all(code in body for code in ("1.1.1", "1.1.2", "2.1.1", "2.2.1")) and 'data-status="draft"' in body

    # a bad row refuses the whole form, keeps what was typed and saves nothing
    first = plan.items[0]
    bad = _form(plan, **{f"due-{first.id}": "30/02/2024"})
    response = client.post(f"{url}/items", data={**bad, "csrf_token": token})
    assert response.status_code == 422
    assert 'data-invalid-items="1"' in response.get_data(as_text=True) and "30/02/2024" in response.get_data(as_text=True)
    db.session.expire_all()
    assert all(i.responsible is None for i in remediation.plan_of(published).items)

    response = client.post(f"{url}/items", data={**_form(plan), "csrf_token": token})
    assert response.status_code == 303
    db.session.expire_all()
    plan = remediation.plan_of(published)
    assert all(i.action == f"Khắc phục mục {i.code}" for i in plan.items)
    response = client.post(f"{url}/submit", data={"csrf_token": token, "plan_version": plan.version})
    assert response.status_code == 303
    db.session.expire_all()
    assert remediation.plan_of(published).status == "submitted"
    assert 'id="submit-plan"' not in client.get(url).get_data(as_text=True)  # read-only once submitted
    response = client.post(f"{url}/items", data={**_form(plan, due="2099-01-01"), "csrf_token": token},
                           follow_redirects=True)
    assert "thư ký trả lại" in response.get_data(as_text=True)  # told why, nothing changed
    db.session.expire_all()
    assert all(i.due != dt.date(2099, 1, 1) for i in remediation.plan_of(published).items)


def test_secretariat_returns_and_marks_done(app, db, make, published):
    plan = remediation.plan_of(published)
    officer = make.officers["10001"]
    remediation.save_items(plan, [ItemRow(i.id, "Ông A", "Việc", "2024-03-29") for i in plan.items], officer,
                           now=make_now())
    remediation.submit(plan, officer, now=make_now())
    db.session.commit()
    client = logged_in(app, make.secretariat)
    url = f"/cases/{published.id}/remediation"
    html = client.get(url).get_data(as_text=True)
    assert 'data-done="1.1.1"' in html and 'id="return-plan"' in html
    token = csrf_of(html)
    first = plan.items[0]
    response = client.post(f"{url}/done", data={"csrf_token": token, "item_id": first.id,
                                                "plan_version": plan.version})
    assert response.status_code == 303
    db.session.expire_all()
    plan = remediation.plan_of(published)
    assert plan.items[0].status == "done"
    assert remediation.deadlines_of(plan)[first.id].completed_at is not None
    # no reason: refused, nothing changes
    client.post(f"{url}/return", data={"csrf_token": token, "reason": " ", "plan_version": plan.version})
    db.session.expire_all()
    assert remediation.plan_of(published).status == "submitted"
    client.post(f"{url}/return", data={"csrf_token": token, "reason": "Biện pháp chưa cụ thể",
                                       "plan_version": plan.version})
    db.session.expire_all()
    assert remediation.plan_of(published).status == "returned"
    officer_client = logged_in(app, officer)
    officer_page = officer_client.get(url).get_data(as_text=True)
    assert "Biện pháp chưa cụ thể" in officer_page and 'id="submit-plan"' in officer_page
    # the officer may not do the secretariat's part
    response = officer_client.post(f"{url}/return", data={"csrf_token": csrf_of(officer_page), "reason": "x"})
    assert response.status_code == 403


def make_now():
    return dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC)


def test_another_commune_sees_and_changes_nothing(app, db, make, published):
    plan = remediation.plan_of(published)
    before = db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    client = logged_in(app, make.officers["10002"])
    url = f"/cases/{published.id}/remediation"
    for path in ("", ".docx", ".pdf"):
        assert client.get(url + path).status_code == 404
    token = csrf_of(client.get("/account").get_data(as_text=True))
    for path, data in (("/items", _form(plan)), ("/submit", {}), ("/draft", {})):
        assert client.post(url + path, data={**data, "csrf_token": token}).status_code == 404
    auditor = logged_in(app, make.auditor)
    page = auditor.get(url)
    assert page.status_code == 200  # the auditor reads every case, and changes nothing
    token = csrf_of(page.get_data(as_text=True))
    for path in ("/items", "/submit", "/draft", "/return", "/done"):
        assert auditor.post(url + path, data={"csrf_token": token, "reason": "x",
                                              "item_id": plan.items[0].id}).status_code == 403
    assert db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == before


def test_downloads(app, db, make, published):
    client = logged_in(app, make.chairs["10001"])
    response = client.get(f"/cases/{published.id}/remediation.docx")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, no-store"
    assert "ke-hoach-khac-phuc-10001-tiny-2023.docx" in response.headers["Content-Disposition"]
    lines = [p.text for p in docx.Document(io.BytesIO(response.data)).paragraphs]
    assert "a) Mục 1.1.1. Ban hành Kế hoạch CCHC: Chỉ đạt 0,5/1 điểm." in lines
    response = client.get(f"/cases/{published.id}/remediation.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf" and response.data[:4] == b"%PDF"


def test_a_case_published_before_plans_existed_can_be_drafted(app, db, make, published):
    db.session.delete(remediation.plan_of(published))
    db.session.commit()
    client = logged_in(app, make.secretariat)
    url = f"/cases/{published.id}/remediation"
    html = client.get(url).get_data(as_text=True)
    assert 'id="no-plan"' in html and 'id="draft-plan"' in html
    assert client.post(f"{url}/draft", data={"csrf_token": csrf_of(html)}).status_code == 303
    assert len(remediation.plan_of(published).items) == 4


def test_next_years_self_assessment_shows_last_years_items(app, db, make, published):
    plan = remediation.plan_of(published)
    officer = make.officers["10001"]
    remediation.save_items(plan, [ItemRow(i.id, "Ông A", f"Biện pháp {i.code}", "2024-03-29") for i in plan.items],
                           officer, now=make_now())
    remediation.submit(plan, officer, now=make_now())
    remediation.mark_done(plan, plan.items[0].id, make.secretariat, now=make_now())
    db.session.commit()
    new_campaign = next_year(make, db, published.campaign)
    new_case = cases.get_case(new_campaign.key, "10001")
    make.advance(new_case, Stage.self_assessment)
    client = logged_in(app, officer)
    assert 'id="remediation-link"' not in client.get(f"/cases/{new_case.id}").get_data(as_text=True)
    remediation.carry_forward(published.campaign, new_campaign, actor=make.head, now=make_now())
    db.session.commit()
    # the carried items' plan is reachable from next year's case page, still in self-assessment
    assert 'id="remediation-link"' in client.get(f"/cases/{new_case.id}").get_data(as_text=True)
    html = client.get(f"/cases/{new_case.id}/self-assessment").get_data(as_text=True)
    block = item_block(html, "1.1.1")
    assert 'data-previous-remediation="1"' in block and "Biện pháp 1.1.1" in block and 'data-status="done"' in block
    assert "Biện pháp 1.1.2" in item_block(html, "1.1.2")
    assert "Biện pháp 2.2.1" in item_block(html, "2.2.1")  # a survey item lost points too
    # another commune's form shows nothing of it
    other = cases.get_case(new_campaign.key, "10002")
    make.advance(other, Stage.self_assessment)
    other_html = logged_in(app, make.officers["10002"]).get(f"/cases/{other.id}/self-assessment").get_data(as_text=True)
    assert "data-previous-remediation" not in other_html


def test_an_item_cleared_by_a_correction_shows_as_no_longer_lost(app, db, make, published):
    from tests.workflow.test_remediation import LATER, _correct_and_approve
    from workflow import publication

    plan = remediation.plan_of(published)
    started = plan.items[0]
    remediation.save_items(plan, [ItemRow(started.id, "Công chức Văn phòng - Thống kê", "Bổ sung hồ sơ", DUE)],
                           make.officers["10001"], now=dt.datetime.now(dt.UTC))
    make.advance(make.case_of(published.campaign, "10002"), Stage.publication)
    publication.publish_campaign(published.campaign, make.head, now=LATER)
    db.session.commit()
    code, started_id = started.code, started.id
    _correct_and_approve(make, db, published, {code: started.max_points})

    html = logged_in(app, make.officers["10001"]).get(f"/cases/{published.id}/remediation").get_data(as_text=True)
    row = html[html.index(f'id="item-{code}"'):]
    row = row[:row.index("</tr>")]
    assert 'data-status="cleared"' in row and "không còn bị trừ điểm (đã đính chính điểm)" in row
    assert "Bổ sung hồ sơ" in row and f'name="action-{started_id}"' not in row  # kept, no longer editable
    assert 'data-items="4"' in html
