"""The survey pages: progress per commune and group, import with its report, issued forms, conversion, access."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import Score, SurveyForm, SurveyIssue
from states import Stage
from tests.web.helpers import csrf_of, logged_in, password_hash
from tests.workflow.test_survey import GOOD_ROWS, HEADER, SURVEY_BLOCK, SURVEY_TREE
from workflow import survey


@pytest.fixture
def campaign(make, db):
    cs = make.criteria_set(key="page-criteria", tree=SURVEY_TREE)
    c = make.campaign(key="page-2023", criteria_set=cs)
    c.survey = SURVEY_BLOCK
    make.advance(make.case_of(c, "10001"), Stage.self_assessment)
    for user in (make.secretariat, make.auditor, *make.officers.values(), make.council[1]):
        user.password_hash = password_hash()
    db.session.commit()
    return c


def _upload(rows, name="phieu.csv"):
    text = "\n".join(",".join(r) for r in [HEADER, *rows]) + "\n"
    return {"file": (io.BytesIO(text.encode("utf-8")), name)}


def _rows(html: str) -> dict[tuple[str, str], str]:
    return {(m[1], m[2]): m[3] for m in re.finditer(
        r'data-commune="([^"]*)" data-group="([^"]*)"[^>]*data-status="([^"]*)"', html)}


def test_the_import_report_speaks_vietnamese(app, db, make, campaign):
    """A commune past the survey is named with its stage's title, and the columns with the Vietnamese headers."""
    make.case_of(campaign, "10001").stage = Stage.publication.value  # as if published (setup only)
    db.session.commit()
    client = logged_in(app, make.secretariat)
    token = csrf_of(client.get("/survey/page-2023/import").get_data(as_text=True))
    refused = client.post("/survey/page-2023/import", data={**_upload(GOOD_ROWS), "csrf_token": token},
                          content_type="multipart/form-data")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    row = re.search(r'<tr data-row="\d+" data-column="commune_code">.*?</tr>', html, re.S).group(0)
    assert "<td>mã xã</td>" in row and "giai đoạn &#39;Phê duyệt, công bố&#39;" in row and "publication" not in row


def test_the_blank_form_file_imports_once_filled(app, db, make, campaign):
    """The template the import page offers is headed as the import reads it: filled in, it goes through."""
    from openpyxl import load_workbook

    client = logged_in(app, make.secretariat)
    page = client.get("/survey/page-2023/import").get_data(as_text=True)
    assert 'href="/survey/page-2023/import/template.xlsx"' in page
    got = client.get("/survey/page-2023/import/template.xlsx")
    assert got.status_code == 200 and got.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="mau-phieu-page-2023.xlsx"' in got.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(got.data))
    forms, lists = book.worksheets
    assert [c.value for c in forms[1]] == ["mã xã", "nhóm", "số phiếu", "khảo sát viên", "hình thức", "3.1.1", "3.1.2"]
    assert ["10001", "Xã 10001"] in [[c.value for c in row] for row in lists.iter_rows()]
    assert ["leaders", "Lãnh đạo các cơ quan chuyên môn"] in [[c.value for c in row] for row in lists.iter_rows()]
    answers = [v for v in forms.data_validations.dataValidation if "3.1.1" not in v.formula1]
    assert any(v.formula1 == '"A,B,C,D,X"' for v in answers)
    forms.append(["10001", "leaders", "L1", "Nguyễn Văn An", "trực tiếp", "A", "B"])
    filled = io.BytesIO()
    book.save(filled)
    filled.seek(0)
    token = csrf_of(page)
    done = client.post("/survey/page-2023/import", data={"file": (filled, "phieu.xlsx"), "csrf_token": token},
                       content_type="multipart/form-data")
    assert done.status_code == 200 and 'data-created="1"' in done.get_data(as_text=True)
    # only those who import may download it
    assert logged_in(app, make.officers["10001"]).get("/survey/page-2023/import/template.xlsx").status_code == 403


def test_secretariat_imports_sees_progress_and_converts(app, db, make, campaign):
    client = logged_in(app, make.secretariat)
    page = client.get("/survey", follow_redirects=True)
    assert page.status_code == 200 and 'data-campaign="page-2023"' in page.get_data(as_text=True)
    form = client.get("/survey/page-2023/import").get_data(as_text=True)
    token = csrf_of(form)

    bad = client.post("/survey/page-2023/import", data={
        **_upload([*GOOD_ROWS, ["10002", "leaders", "1", "", "online", "E", "A"]]), "csrf_token": token},
        content_type="multipart/form-data")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert 'data-row="9" data-column="3.1.1"' in html
    assert "không phải là câu trả lời" in html  # the reason, in Vietnamese
    assert db.session.scalar(select(func.count(SurveyForm.id))) == 0

    wrong = client.post("/survey/page-2023/import", data={
        "file": (io.BytesIO(b"%PDF-1.4"), "phieu.pdf"), "csrf_token": token}, content_type="multipart/form-data")
    assert wrong.status_code == 422 and 'id="upload-refusal"' in wrong.get_data(as_text=True)

    good = client.post("/survey/page-2023/import", data={**_upload(GOOD_ROWS), "csrf_token": token},
                       content_type="multipart/form-data")
    assert good.status_code == 200, good.get_data(as_text=True)
    assert 'data-created="7"' in good.get_data(as_text=True)

    issued = client.post("/survey/page-2023/issue", data={"commune": "10002", "group": "leaders", "count": "3",
                                                           "mode": "online", "surveyor": "Lê C", "csrf_token": token})
    assert issued.status_code == 303
    assert db.session.scalar(select(SurveyIssue.count)) == 3
    refused = client.post("/survey/page-2023/issue", data={"commune": "10002", "group": "leaders", "count": "0",
                                                            "surveyor": "Lê C", "csrf_token": token})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="issue-error"' in body and 'value="Lê C"' in body  # nothing lost

    html = client.get("/survey/page-2023?as_of=2023-11-22").get_data(as_text=True)
    rows = _rows(html)
    assert rows[("10001", "leaders")] == "complete" and rows[("10002", "leaders")] == "late"
    assert 'data-commune="10002" data-group="leaders" data-quota="3" data-issued="3" data-returned="0"' in html
    assert 'data-code="3.1.1" data-points="0.36"' in html  # the preview, before recording

    weights = {"option_A": "100", "option_B": "60", "option_C": "20", "option_D": "0", "group_leaders": "1",
               "group_delegates": "3", "group_district": "0"}
    wrong = client.post("/survey/page-2023/weights", data={**weights, "option_B": "160", "csrf_token": token})
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "160 nằm ngoài khoảng 0..100" in body and 'value="160"' in body
    # beside the B box, not as "options.B: …" in one block
    assert '<small class="error" data-error-for="B">160 nằm ngoài khoảng 0..100</small>' in body
    assert "options.B" not in body
    # group weights: some typed, some left blank is one rule broken, not "'' is not a number" per blank box
    partly = client.post("/survey/page-2023/weights", data={**weights, "group_district": "", "csrf_token": token})
    body = partly.get_data(as_text=True)
    assert partly.status_code == 422 and "không phải là số" not in body
    assert 'data-error-for="groups">nhập trọng số cho mọi nhóm, hoặc để trống tất cả (còn thiếu: Người dân cấp ' \
           'huyện)' in body
    assert client.post("/survey/page-2023/weights", data={**weights, "csrf_token": token}).status_code == 303
    assert survey.weights_of(campaign).groups == {"leaders": 1, "delegates": 3, "district": 0}
    assert 'data-code="3.1.1" data-points="0.30"' in client.get("/survey/page-2023").get_data(as_text=True)

    converted = client.post("/survey/page-2023/convert", data={"csrf_token": token}, follow_redirects=True)
    assert converted.status_code == 200
    case = make.case_of(campaign, "10001")
    assert db.session.scalar(select(Score.survey_score).join(Score.item).where(
        Score.case_id == case.id, Score.item.has(code="3.1.1"))) == Decimal("0.30")  # with the group weights


def test_officer_sees_only_their_commune_and_changes_nothing(app, db, make, campaign, now):
    survey.import_file(campaign, io.BytesIO(("\n".join(",".join(r) for r in [HEADER, *GOOD_ROWS])).encode()),
                       actor=make.secretariat, now=now, filename="x.csv")
    db.session.commit()
    client = logged_in(app, make.officers["10002"])
    html = client.get("/survey/page-2023").get_data(as_text=True)
    assert set(_rows(html)) == {("10002", "leaders"), ("10002", "delegates")}
    assert "Xã 10001" not in html and "convert-form" not in html
    token = csrf_of(client.get(f"/cases/{make.case_of(campaign, '10002').id}").get_data(as_text=True))
    assert client.post("/survey/page-2023/convert", data={"csrf_token": token}).status_code == 403
    assert client.get("/survey/page-2023/import").status_code == 403
    # an officer of a commune with no case in the campaign, and an unknown campaign: nothing there
    assert client.get("/survey/other").status_code == 404
    outsider = make.campaign(key="other-2023", communes=("20001",))
    outsider.survey = SURVEY_BLOCK
    make.officers["20001"].password_hash = password_hash()
    db.session.commit()
    stranger = logged_in(app, make.officers["20001"])
    assert stranger.get("/survey/page-2023").status_code == 404


def test_readers_see_all_but_change_nothing(app, db, make, campaign):
    for user in (make.auditor, make.council[1]):
        client = logged_in(app, user)
        html = client.get("/survey/page-2023").get_data(as_text=True)
        assert ("10001", "leaders") in _rows(html) and ("10002", "delegates") in _rows(html)
        assert "convert-form" not in html and "issue-form" not in html
        assert client.post("/survey/page-2023/issue", data={"commune": "10002", "group": "leaders",
                                                             "count": "3"}).status_code in (400, 403)
    assert db.session.scalar(select(func.count(SurveyIssue.id))) == 0


def test_conversion_refused_when_group_weights_no_longer_match_the_plan(app, db, make, campaign, now):
    survey.set_weights(campaign, actor=make.head, now=now, groups={"leaders": 1, "delegates": 1, "district": 1})
    campaign.survey = {**SURVEY_BLOCK, "groups": SURVEY_BLOCK["groups"][:2]}  # the plan reloaded, a group gone
    db.session.commit()
    client = logged_in(app, make.secretariat)
    token = csrf_of(client.get("/survey/page-2023").get_data(as_text=True))
    page = client.post("/survey/page-2023/convert", data={"csrf_token": token}, follow_redirects=True)
    assert "trọng số nhóm không còn khớp" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Score.id)).where(Score.survey_score.is_not(None))) == 0
