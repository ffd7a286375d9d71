"""The secretariat's appraisal form: appraised scores beside the self scores and evidence, return, complete."""

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import AuditEvent, CriteriaItem, Evidence, Score, SignOff
from states import Stage
from tests.conftest import NOW
from tests.web.helpers import csrf_of, item_block, logged_in, password_hash, version_of
from workflow import assessment_forms, evidence
from workflow.clock import utcnow

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SELF_CODES = ("1.1.1", "1.1.2", "2.1.1")


@pytest.fixture
def case(world, db):
    """Commune 10001's case in appraisal, self scores at the maximum, one evidence file on 1.1.1."""
    case = world.case_of(world.campaign_obj, "10001")
    evidence.add_evidence(case, "1.1.1", world.officers["10001"], now=NOW, file_name="ke-hoach.pdf", data=PDF,
                          media_type="application/pdf", locator="trang 2")
    world.advance(case, Stage.appraisal)
    return case


@pytest.fixture
def secretariat(app, world):
    return logged_in(app, world.secretariat)


def _url(case) -> str:
    return f"/cases/{case.id}/appraisal"


def _form(client, case, **values) -> dict:
    html = client.get(_url(case)).get_data(as_text=True)
    data = {"csrf_token": csrf_of(html), "version": str(version_of(html)), "rows": list(SELF_CODES)}
    for code in SELF_CODES:
        data[f"appraised-{code}"] = ""
        data[f"note-{code}"] = ""
    data.update(values)
    return data


def _fire(client, case, name, **fields):
    html = client.get(_url(case)).get_data(as_text=True)
    return client.post(f"/cases/{case.id}/transitions/{name}", data={
        "csrf_token": csrf_of(html), "version": str(version_of(html)), "next": _url(case), **fields})


def _score(db, case, code) -> Score:
    db.session.expire_all()
    return db.session.scalar(select(Score).join(CriteriaItem, Score.item_id == CriteriaItem.id)
                             .where(Score.case_id == case.id, CriteriaItem.code == code))


def _events(db, action="score.changed") -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_each_item_shows_the_self_score_explanation_and_evidence_beside_the_inputs(app, world, case, db,
                                                                                  secretariat):
    response = secretariat.get(_url(case))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    row = db.session.scalar(select(Evidence))
    block = item_block(html, "1.1.1")
    assert 'data-self-score="1.00"' in block and "Đã thực hiện đầy đủ" in block
    assert f'href="/cases/{case.id}/evidence/{row.id}"' in block and "trang 2" in block
    assert 'name="appraised-1.1.1"' in block and 'name="note-1.1.1"' in block
    assert "data-remove" not in html and 'type="file"' not in html  # evidence is the commune's to change
    assert 'name="appraised-2.2.1"' not in html and "data-survey" in item_block(html, "2.2.1")
    assert 'data-self-total="5.00"' in html and 'data-appraised-total="0.00"' in html
    assert "data-difference" not in html  # nothing appraised yet: no difference to show
    assert secretariat.get(f"/cases/{case.id}/evidence/{row.id}").data == PDF


def test_save_appraisal_and_errors_beside_items(app, world, case, db, secretariat):
    bad = secretariat.post(_url(case), data=_form(secretariat, case, **{
        "appraised-1.1.1": "0,5", "note-1.1.1": "Ban hành chậm 6 ngày", "appraised-1.1.2": "hai"}))
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'data-error-for="score"' in item_block(html, "1.1.2") and 'value="hai"' in item_block(html, "1.1.2")
    assert 'value="0,5"' in item_block(html, "1.1.1") and "Ban hành chậm 6 ngày" in item_block(html, "1.1.1")
    assert "data-error-for" not in item_block(html, "1.1.1")
    assert _score(db, case, "1.1.1").appraised_score is None
    events = _events(db)
    good = secretariat.post(_url(case), data=_form(secretariat, case, **{
        "appraised-1.1.1": "0,5", "note-1.1.1": "Ban hành chậm 6 ngày", "appraised-1.1.2": "1,75"}))
    assert good.status_code == 303 and good.headers["Location"].endswith(_url(case))
    assert _score(db, case, "1.1.1").appraised_score == Decimal("0.50")
    assert _score(db, case, "1.1.1").appraiser_note == "Ban hành chậm 6 ngày"
    assert _score(db, case, "1.1.2").appraised_score == Decimal("1.75")
    assert _events(db) == events + 2
    html = secretariat.get(_url(case)).get_data(as_text=True)
    assert 'data-self-total="5.00"' in html and 'data-appraised-total="2.25"' in html
    assert 'data-difference="-0.75"' in html  # over the two items appraised: 0,5 - 1 and 1,75 - 2
    # an unchanged form posted again writes nothing
    secretariat.post(_url(case), data=_form(secretariat, case, **{
        "appraised-1.1.1": "0.50", "note-1.1.1": "Ban hành chậm 6 ngày", "appraised-1.1.2": "1.75"}))
    assert _events(db) == events + 2


def test_stale_version_is_a_conflict(app, world, case, db, secretariat):
    data = _form(secretariat, case, **{"appraised-1.1.1": "1"})
    data["version"] = str(int(data["version"]) - 1)
    assert secretariat.post(_url(case), data=data).status_code == 409
    assert _score(db, case, "1.1.1").appraised_score is None


def test_return_for_revision_needs_a_reason_and_a_date_then_the_officer_sees_why(app, world, case, db,
                                                                                secretariat):
    html = secretariat.get(_url(case)).get_data(as_text=True)
    default = assessment_forms.default_revision_due(case, utcnow())
    assert re.search(rf'name="revision_due" value="{default.isoformat()}"', html)
    assert f'action="/cases/{case.id}/transitions/return_for_revision"' in html
    no_reason = _fire(secretariat, case, "return_for_revision", reason=" ", revision_due=default.isoformat())
    assert no_reason.status_code == 303
    html = secretariat.get(_url(case)).get_data(as_text=True)
    assert 'data-blocker="a reason is required"' in html
    no_date = _fire(secretariat, case, "return_for_revision", reason="Thiếu tài liệu kiểm chứng")
    assert no_date.status_code == 303
    assert 'data-blocker="a revision deadline is required"' in secretariat.get(_url(case)).get_data(as_text=True)
    db.session.expire_all()
    assert case.stage == Stage.appraisal.value
    done = _fire(secretariat, case, "return_for_revision", reason="Thiếu tài liệu kiểm chứng mục 2.1.1",
                 revision_due=default.isoformat())
    assert done.status_code == 303
    db.session.expire_all()
    assert case.stage == Stage.self_assessment.value and case.revision_due == default
    officer = logged_in(app, world.officers["10001"])
    form = officer.get(f"/cases/{case.id}/self-assessment").get_data(as_text=True)
    revision = re.search(r'<section class="revision".*?</section>', form, re.S).group(0)
    assert "Thiếu tài liệu kiểm chứng mục 2.1.1" in revision and default.strftime("%d/%m/%Y") in revision
    assert 'name="score-1.1.1"' in form and 'id="read-only"' not in form  # editable again
    # the appraisal page is now read-only for the secretariat
    after = secretariat.get(_url(case)).get_data(as_text=True)
    assert 'id="read-only"' in after and 'name="rows"' not in after


def test_complete_appraisal_refused_beside_items_then_done(app, world, case, db, secretariat):
    refused = _fire(secretariat, case, "complete_appraisal")
    assert refused.status_code == 303
    html = secretariat.get(_url(case)).get_data(as_text=True)
    assert 'class="blocker-summary refused"' in html
    for code in SELF_CODES:
        assert 'data-blocker="not appraised"' in item_block(html, code)
    secretariat.post(_url(case), data=_form(secretariat, case, **{
        "appraised-1.1.1": "1", "appraised-1.1.2": "1,5", "appraised-2.1.1": "2"}))
    html = secretariat.get(_url(case)).get_data(as_text=True)
    assert not re.search(r'data-action="complete_appraisal"\s+disabled', html)
    done = _fire(secretariat, case, "complete_appraisal")
    assert done.status_code == 303
    db.session.expire_all()
    assert case.stage == Stage.survey.value


def test_complete_appraisal_may_open_a_council_sign_off(app, make, db):
    campaign = make.campaign(key="signed-2023", sign_off=("complete_appraisal", "approve"))
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    make.fill_appraisal(case)
    make.head.password_hash = password_hash()
    db.session.commit()
    client = logged_in(app, make.head)
    html = client.get(_url(case)).get_data(as_text=True)
    assert "data-sign-off" in html  # the page says the council will be asked
    response = _fire(client, case, "complete_appraisal")
    assert response.status_code == 303
    page = client.get(_url(case)).get_data(as_text=True)
    assert re.search(r'class="flash success"[^>]*>[^<]+<', page)  # "sent to the council for sign-off"
    assert "data-sign-off" in page and 'class="blocker-summary' in page  # now awaiting the council
    db.session.expire_all()
    assert case.stage == Stage.appraisal.value
    assert db.session.scalar(select(func.count()).select_from(SignOff)) == 1


@pytest.mark.parametrize("who", ["officer", "chair", "auditor", "council", "leader"])
def test_others_may_not_open_the_form(app, world, case, db, who):
    user = {"officer": world.officers["10001"], "chair": world.chairs["10001"], "auditor": world.auditor,
            "council": world.council[0], "leader": world.leader}[who]
    client = logged_in(app, user)
    token = csrf_of(client.get("/cases").get_data(as_text=True))
    assert client.get(_url(case)).status_code in (403, 404)
    assert client.post(_url(case), data={"csrf_token": token, "rows": ["1.1.1"],
                                         "appraised-1.1.1": "0"}).status_code in (403, 404)
    assert _score(db, case, "1.1.1").appraised_score is None


def test_missing_case_is_404(app, world, secretariat):
    assert secretariat.get("/cases/999999/appraisal").status_code == 404
