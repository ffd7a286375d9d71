"""The commune's self-assessment form: draft saving, evidence upload and removal, submission, scope."""

import hashlib
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import ROOT
from models import AuditEvent, CriteriaItem, Evidence, Score
from states import Stage
from tests.conftest import NOW
from tests.web.helpers import csrf_of, item_block, logged_in, version_of
from workflow import evidence, scores

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SELF_CODES = ("1.1.1", "1.1.2", "2.1.1")


@pytest.fixture
def case(world):
    return world.case_of(world.campaign_obj, "10001")


@pytest.fixture
def officer(app, world):
    return logged_in(app, world.officers["10001"])


def _url(case) -> str:
    return f"/cases/{case.id}/self-assessment"


def _form(client, case, **values) -> dict:
    """The form as the page renders it (csrf, version, rows), with ``values`` typed over it."""
    html = client.get(_url(case)).get_data(as_text=True)
    data = {"csrf_token": csrf_of(html), "version": str(version_of(html)), "rows": list(SELF_CODES)}
    for code in SELF_CODES:
        data[f"score-{code}"] = ""
        data[f"explanation-{code}"] = ""
    data.update(values)
    return data


def _score(db, case, code) -> Score | None:
    db.session.expire_all()
    return db.session.scalar(select(Score).join(CriteriaItem, Score.item_id == CriteriaItem.id)
                             .where(Score.case_id == case.id, CriteriaItem.code == code))


def _events(db, action="score.changed") -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def _upload(client, case, code, files, locator="", headers=None):
    html = client.get(_url(case)).get_data(as_text=True)
    data = {"csrf_token": csrf_of(html), "version": str(version_of(html)), "code": code, "locator": locator,
            "files": [(io.BytesIO(content), name, media) for name, content, media in files]}
    return client.post(f"{_url(case)}/evidence", data=data, content_type="multipart/form-data",
                       headers=headers or {})


# --- the page ---------------------------------------------------------------------------------------

def test_form_lists_every_sub_criterion_with_its_rule_inputs_and_limits(app, world, case, db, officer):
    item = db.session.scalar(select(CriteriaItem).where(CriteriaItem.code == "1.1.1"))
    item.rule_vi, item.rule_en = "Ban hành trước 05/12: 1 điểm; chậm: 0,5", "Issued before 05/12: 1 point; late: 0.5"
    item.not_applicable_allowed = False
    db.session.commit()
    response = officer.get(_url(case))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for code in SELF_CODES:
        block = item_block(html, code)
        assert f'name="score-{code}"' in block and f'name="explanation-{code}"' in block
        assert 'type="file"' in block and 'name="locator"' in block
    assert "Ban hành trước 05/12: 1 điểm; chậm: 0,5" in item_block(html, "1.1.1")  # Vietnamese by default
    assert 'name="na-1.1.1"' not in html and 'name="na-1.1.2"' in html     # N/A only where allowed
    survey = item_block(html, "2.2.1")
    assert "data-survey" in survey and 'name="score-2.2.1"' not in survey and 'type="file"' not in survey
    assert 'data-max="2.00"' in item_block(html, "1.1.2")
    limits = re.search(r'id="upload-limits" data-max-bytes="(\d+)">(.*?)</p>', html, re.S)
    assert int(limits.group(1)) == app.config["EVIDENCE_MAX_BYTES"]
    assert "PDF" in limits.group(2) and "DOCX" in limits.group(2) and "20" in limits.group(2)
    progress = re.search(r'id="progress" data-scored="(\d+)" data-total="(\d+)"\s+data-missing-evidence="(\d+)"',
                         html)
    assert progress.groups() == ("0", "3", "2")
    assert 'src="/static/js/assess.js"' in html and "<script>" not in html
    english = officer.get("/lang/en", headers={"Referer": "http://localhost" + _url(case)})
    assert english.status_code == 302
    assert "Issued before 05/12: 1 point; late: 0.5" in officer.get(_url(case)).get_data(as_text=True)


def test_the_missing_evidence_count_follows_the_submission_rule(app, world, case, db, officer):
    """An explanation stands in for required evidence (guards.self_assessment_complete): the counter and
    the item's text say so, and agree with what blocks submission."""
    data = _form(officer, case, **{"score-1.1.1": "1", "explanation-1.1.1": "Văn bản bị thất lạc, đã báo cáo",
                                   "score-1.1.2": "1", "score-2.1.1": "1"})
    assert officer.post(_url(case), data=data).status_code == 303
    html = officer.get(_url(case)).get_data(as_text=True)
    assert re.search(r'data-missing-evidence="1"', html)
    assert "phần giải trình đã nêu được dùng thay" in item_block(html, "1.1.1")
    assert "hoặc phải giải trình lý do không có" in item_block(html, "2.1.1")
    blocked = re.search(r'id="blockers"[^>]*data-blocked-items="(\d+)"', html)
    assert blocked and blocked.group(1) == "1"  # only 2.1.1 blocks, as the counter says


# --- saving a draft ---------------------------------------------------------------------------------

def test_save_draft_saves_values_na_and_explanations_with_a_decimal_comma(app, world, case, db, officer):
    data = _form(officer, case, **{"score-1.1.1": "0,5", "explanation-1.1.1": "Kế hoạch số 12/KH-UBND",
                                   "score-1.1.2": "1.75", "na-2.1.1": "1",
                                   "explanation-2.1.1": "Không phát sinh"})
    response = officer.post(_url(case), data=data)
    assert response.status_code == 303 and response.headers["Location"].endswith(_url(case))
    assert _score(db, case, "1.1.1").self_score == Decimal("0.50")
    assert _score(db, case, "1.1.1").explanation == "Kế hoạch số 12/KH-UBND"
    assert _score(db, case, "1.1.2").self_score == Decimal("1.75")
    assert _score(db, case, "2.1.1").not_applicable is True
    assert _events(db) == 3
    html = officer.get(_url(case)).get_data(as_text=True)
    assert 'value="0,50"' in item_block(html, "1.1.1") and "Kế hoạch số 12/KH-UBND" in item_block(html, "1.1.1")
    assert re.search(r'name="na-2\.1\.1" value="1"\s+checked', html)
    assert re.search(r'data-scored="3" data-total="3"', html)
    assert 'data-self-total="2.25"' in html and "2,25/3,00" in html  # 2.1.1 is N/A: out of the maximum


def test_unchanged_rows_write_no_audit_event(app, world, case, db, officer):
    officer.post(_url(case), data=_form(officer, case, **{"score-1.1.1": "1", "score-1.1.2": "2"}))
    events, version = _events(db), version_of(officer.get(_url(case)).get_data(as_text=True))
    # the page posts every row back; only 2.1.1 differs from what is stored
    response = officer.post(_url(case), data=_form(officer, case, **{"score-1.1.1": "1,00", "score-1.1.2": "2",
                                                                     "score-2.1.1": "1,5"}))
    assert response.status_code == 303
    assert _events(db) == events + 1
    last = db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()))
    assert last.subject == "2.1.1"
    # nothing changed at all: no event, and the case version stays where it was
    again = officer.post(_url(case), data=_form(officer, case, **{"score-1.1.1": "1", "score-1.1.2": "2",
                                                                  "score-2.1.1": "1.5"}))
    assert again.status_code == 303
    assert _events(db) == events + 1
    assert version_of(officer.get(_url(case)).get_data(as_text=True)) == version + 1


def test_invalid_values_are_shown_beside_their_items_and_nothing_is_saved(app, world, case, db, officer):
    data = _form(officer, case, **{"score-1.1.1": "abc", "score-1.1.2": "2,5", "score-2.1.1": "1",
                                   "explanation-2.1.1": "Đã niêm yết tại bộ phận một cửa"})
    response = officer.post(_url(case), data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-invalid-items="2"' in html
    bad, too_big, good = item_block(html, "1.1.1"), item_block(html, "1.1.2"), item_block(html, "2.1.1")
    assert 'data-error-for="score"' in bad and "không phải là số" in bad and 'value="abc"' in bad
    assert 'data-error-for="score"' in too_big and 'value="2,5"' in too_big and 'aria-invalid="true"' in too_big
    assert 'data-error-for' not in good
    # what the user typed is kept, valid rows included
    assert 'value="1"' in good and "Đã niêm yết tại bộ phận một cửa" in good
    assert version_of(html) == int(data["version"])
    assert _events(db) == 0 and _score(db, case, "2.1.1") is None


def test_stale_version_gives_the_conflict_page_and_saves_nothing(app, world, case, db, officer):
    data = _form(officer, case, **{"score-1.1.1": "1"})
    # someone else (the chair, from another browser) changes the case meanwhile
    scores.set_self_assessment(case, "1.1.2", world.chairs["10001"], now=NOW, score="1")
    db.session.commit()
    response = officer.post(_url(case), data=data)
    assert response.status_code == 409
    assert 'data-error="409"' in response.get_data(as_text=True)
    assert _score(db, case, "1.1.1") is None


# --- evidence ---------------------------------------------------------------------------------------

def test_good_pdf_is_stored_by_sha256_outside_the_web_root(app, world, case, db, officer):
    response = _upload(officer, case, "1.1.1", [("Kế hoạch CCHC.pdf", PDF, "application/pdf")], locator="trang 2")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{_url(case)}#item-1.1.1")
    row = db.session.scalar(select(Evidence))
    digest = hashlib.sha256(PDF).hexdigest()
    assert row.sha256 == digest and row.locator == "trang 2" and row.file_name == "Kế hoạch CCHC.pdf"
    stored = evidence.path_for(digest)
    assert stored.read_bytes() == PDF and stored.name == digest
    assert (ROOT / "web").resolve() not in stored.resolve().parents
    assert Path(app.config["EVIDENCE_DIR"]).resolve() in stored.resolve().parents
    block = item_block(officer.get(_url(case)).get_data(as_text=True), "1.1.1")
    assert f'href="/cases/{case.id}/evidence/{row.id}"' in block and "trang 2" in block
    download = officer.get(f"/cases/{case.id}/evidence/{row.id}")
    assert download.status_code == 200 and download.data == PDF


def test_refused_files_get_their_reason_beside_the_item_and_the_rest_is_kept(app, world, case, db, officer):
    officer.post(_url(case), data=_form(officer, case, **{"score-1.1.1": "1"}))
    response = _upload(officer, case, "1.1.1", [("ke-hoach.pdf", PDF, "application/pdf"),
                                                 ("setup.exe", b"MZ\x90\x00", "application/octet-stream"),
                                                 ("anh-chup.pdf", PNG, "application/pdf")])
    assert response.status_code == 303
    assert [e.file_name for e in db.session.scalars(select(Evidence))] == ["ke-hoach.pdf"]
    html = officer.get(_url(case)).get_data(as_text=True)
    block = item_block(html, "1.1.1")
    assert 'data-file="setup.exe"' in block and "chỉ chấp nhận tệp PDF, DOCX, XLSX, JPG và PNG" in block
    assert 'data-file="anh-chup.pdf"' in block and "không phải là tệp PDF" in block
    assert "ke-hoach.pdf" in block and 'data-file=' not in item_block(html, "2.1.1")
    assert _score(db, case, "1.1.1").self_score == Decimal("1.00")  # the saved draft is untouched
    # the reasons are shown once, not on every later visit
    assert 'data-file="setup.exe"' not in officer.get(_url(case)).get_data(as_text=True)


def test_upload_by_script_gets_json_with_the_new_list_andversion_of(app, world, case, db, officer):
    before = version_of(officer.get(_url(case)).get_data(as_text=True))
    response = _upload(officer, case, "2.1.1", [("a.pdf", PDF, "application/pdf"), ("b.png", PNG, "image/png"),
                                                 ("c.exe", b"MZ", None)],
                       headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 200 and response.is_json
    reply = response.get_json()
    assert reply["added"] == 2 and reply["version"] == before + 2
    assert [r["file_name"] for r in reply["refused"]] == ["c.exe"]
    assert 'data-evidence-for="2.1.1"' in reply["html"] and "a.pdf" in reply["html"] and "b.png" in reply["html"]
    # removing by script: the item's new list and version again, and no page reload needed
    first = db.session.scalar(select(Evidence).where(Evidence.file_name == "a.pdf"))
    html = officer.get(_url(case)).get_data(as_text=True)
    removed = officer.post(f"{_url(case)}/evidence/{first.id}/remove", headers={"X-Requested-With": "XMLHttpRequest"},
                           data={"csrf_token": csrf_of(html), "version": str(reply["version"])})
    assert removed.status_code == 200 and removed.is_json
    assert removed.get_json()["version"] == reply["version"] + 1
    assert "a.pdf" not in removed.get_json()["html"] and "b.png" in removed.get_json()["html"]


def test_too_large_upload_gets_the_friendly_413_page(app, world, case, db, officer):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    response = _upload(officer, case, "1.1.1", [("big.pdf", PDF + b"0" * 8192, "application/pdf")])
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert 'data-error="413"' in html and "Traceback" not in html
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0


def test_over_the_evidence_limit_is_refused_beside_theitem_block(app, world, case, db, officer):
    app.config["EVIDENCE_MAX_BYTES"] = 100
    response = _upload(officer, case, "1.1.1", [("big.pdf", PDF + b"0" * 200, "application/pdf")])
    assert response.status_code == 303
    block = item_block(officer.get(_url(case)).get_data(as_text=True), "1.1.1")
    assert 'data-file="big.pdf"' in block and "vượt giới hạn" in block


def test_several_files_per_item_then_remove_one(app, world, case, db, officer):
    _upload(officer, case, "1.1.1", [("a.pdf", PDF, "application/pdf"), ("b.png", PNG, "image/png")])
    _upload(officer, case, "1.1.1", [("c.pdf", PDF + b"\n", "application/pdf")], locator="mục II")
    rows = list(db.session.scalars(select(Evidence).order_by(Evidence.id)))
    assert [r.file_name for r in rows] == ["a.pdf", "b.png", "c.pdf"]
    html = officer.get(_url(case)).get_data(as_text=True)
    assert 'data-count="3"' in item_block(html, "1.1.1")
    remove = f"{_url(case)}/evidence/{rows[1].id}/remove"
    assert f'formaction="{remove}"' in item_block(html, "1.1.1")
    response = officer.post(remove, data={"csrf_token": csrf_of(html), "version": str(version_of(html))})
    assert response.status_code == 303
    db.session.expire_all()
    assert rows[1].removed_at is not None and rows[0].removed_at is None
    block = item_block(officer.get(_url(case)).get_data(as_text=True), "1.1.1")
    assert 'data-count="2"' in block and "b.png" not in block
    assert _events(db, "evidence.removed") == 1


# --- submitting -------------------------------------------------------------------------------------

def test_submit_refused_shows_blockers_beside_items_then_accepted(app, world, case, db, officer):
    officer.post(_url(case), data=_form(officer, case, **{"score-1.1.2": "2"}))
    html = officer.get(_url(case)).get_data(as_text=True)
    submit_url = f"/cases/{case.id}/transitions/submit"
    assert f'action="{submit_url}"' in html
    assert re.search(r'data-action="submit"\s+disabled', html)  # the page says it is not ready
    response = officer.post(submit_url, data={"csrf_token": csrf_of(html), "version": str(version_of(html)),
                                              "next": _url(case)})
    assert response.status_code == 303 and response.headers["Location"].endswith(_url(case))
    html = officer.get(_url(case)).get_data(as_text=True)
    summary = re.search(r'<section class="blocker-summary refused".*?</section>', html, re.S).group(0)
    assert 'data-blocked-items="2"' in summary
    assert 'href="#item-1.1.1"' in summary and 'href="#item-2.1.1"' in summary and "#item-1.1.2" not in summary
    assert 'data-blocker="no score"' in item_block(html, "1.1.1") and 'data-blocker="no score"' in item_block(html, "2.1.1")
    assert "data-blocker" not in item_block(html, "1.1.2")
    # score them; 1.1.1 and 2.1.1 also need evidence
    officer.post(_url(case), data=_form(officer, case, **{"score-1.1.1": "1", "score-1.1.2": "2",
                                                          "score-2.1.1": "2"}))
    html = officer.get(_url(case)).get_data(as_text=True)
    officer.post(submit_url, data={"csrf_token": csrf_of(html), "version": str(version_of(html)), "next": _url(case)})
    html = officer.get(_url(case)).get_data(as_text=True)
    assert 'data-blocker="evidence required"' in item_block(html, "1.1.1")
    assert re.search(r"<span data-summary>[^<]*2[^<]*</span>", html)
    _upload(officer, case, "1.1.1", [("a.pdf", PDF, "application/pdf")])
    _upload(officer, case, "2.1.1", [("b.pdf", PDF, "application/pdf")])
    html = officer.get(_url(case)).get_data(as_text=True)
    assert not re.search(r'data-action="submit"\s+disabled', html)
    response = officer.post(submit_url, data={"csrf_token": csrf_of(html), "version": str(version_of(html)),
                                              "next": _url(case)})
    assert response.status_code == 303
    db.session.expire_all()
    assert case.stage == Stage.appraisal.value
    after = officer.get(_url(case)).get_data(as_text=True)
    assert 'id="read-only"' in after and 'name="rows"' not in after and 'data-action="submit"' not in after


def test_stale_version_on_upload_is_a_conflict(app, world, case, db, officer):
    html = officer.get(_url(case)).get_data(as_text=True)
    response = officer.post(f"{_url(case)}/evidence", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(html), "version": str(version_of(html) - 1), "code": "1.1.1",
        "files": [(io.BytesIO(PDF), "a.pdf", "application/pdf")]})
    assert response.status_code == 409
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0


# --- who may use the form ---------------------------------------------------------------------------

def test_officer_of_another_commune_gets_404_everywhere(app, world, case, db):
    evidence.add_evidence(case, "1.1.1", world.officers["10001"], now=NOW, file_name="a.pdf", data=PDF,
                          media_type="application/pdf")
    db.session.commit()
    row = db.session.scalar(select(Evidence))
    other = logged_in(app, world.officers["10002"])
    token = csrf_of(other.get("/cases").get_data(as_text=True))
    assert other.get(_url(case)).status_code == 404
    assert other.post(_url(case), data={"csrf_token": token, "rows": ["1.1.1"], "score-1.1.1": "1"}).status_code \
        == 404
    assert other.post(f"{_url(case)}/evidence", content_type="multipart/form-data", data={
        "csrf_token": token, "code": "1.1.1", "files": [(io.BytesIO(PDF), "x.pdf", "application/pdf")]
    }).status_code == 404
    assert other.post(f"{_url(case)}/evidence/{row.id}/remove", data={"csrf_token": token}).status_code == 404
    assert other.get(f"/cases/{case.id}/evidence/{row.id}").status_code == 404
    assert _score(db, case, "1.1.1") is None and row.removed_at is None
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 1


@pytest.mark.parametrize("who", ["auditor", "council", "secretariat"])
def test_roles_outside_the_commune_get_no_form(app, world, case, who):
    user = {"auditor": world.auditor, "council": world.council[1], "secretariat": world.secretariat}[who]
    client = logged_in(app, user)
    token = csrf_of(client.get("/cases").get_data(as_text=True))
    assert client.get(_url(case)).status_code in (403, 404)
    assert client.post(_url(case), data={"csrf_token": token, "rows": ["1.1.1"],
                                         "score-1.1.1": "1"}).status_code in (403, 404)


def test_the_commune_chair_reads_the_form_but_cannot_change_it(app, world, case, db):
    chair = logged_in(app, world.chairs["10001"])
    response = chair.get(_url(case))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="read-only"' in html and re.search(r'name="score-1\.1\.1"[^>]*disabled', html, re.S)
    assert 'type="file"' not in html and "data-remove" not in html
    post = chair.post(_url(case), data={"csrf_token": csrf_of(html), "version": str(version_of(html)),
                                        "rows": ["1.1.1"], "score-1.1.1": "1"})
    assert post.status_code == 403 and _score(db, case, "1.1.1") is None


def test_a_draft_posted_after_submission_is_refused_with_the_reason(app, world, case, db, officer):
    stale = _form(officer, case, **{"score-1.1.2": "1"})
    world.advance(case, Stage.appraisal)
    stale["version"] = str(case.version)  # even with the current version: the stage decides
    response = officer.post(_url(case), data=stale)
    assert response.status_code == 403
    assert 'data-error="403"' in response.get_data(as_text=True)
    assert _score(db, case, "1.1.2").self_score == Decimal("2.00")  # as submitted
