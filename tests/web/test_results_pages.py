"""Results pages and published outputs: the page (version, hash, charts, difference), the Excel workbook, the
PDF report, the open-data CSV/JSON, no personal data in any of them, and who sees unpublished results."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from models import Commune, ResultSnapshot, User
from states import Stage
from tests.web.helpers import csrf_of, logged_in, password_hash
from workflow import cases, publication, scores

BANDS = [{"min": "75.00", "label": "Tốt"}, {"min": "0.00", "label": "Khá"}]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@pytest.fixture
def env(make, db, now):
    """Two communes approved through the real workflow; 10001 carries an internal note with an e-mail, its
    commune an e-mail address, and 10002 a name a spreadsheet would run as a formula."""
    campaign = make.campaign()
    campaign.classification = BANDS
    a, b = make.case_of(campaign, "10001"), make.case_of(campaign, "10002")
    make.advance(a, Stage.appraisal)
    scores.set_appraisal(a, "1.1.1", make.secretariat, now=now,
                         note=f"Nội bộ: hỏi lại {make.officers['10001'].email}")
    db.session.scalar(select(Commune).where(Commune.code == "10001")).email = "ubnd10001@example.vn"
    db.session.scalar(select(Commune).where(Commune.code == "10002")).name = "=HYPERLINK(\"http://x\")"
    make.advance(a, Stage.publication)
    make.advance(b, Stage.council_meeting)
    for user in db.session.scalars(select(User)):
        user.password_hash = password_hash()
    db.session.commit()
    return {"campaign": campaign, "a": a, "b": b}


def _publish(make, db, env, now):
    make.advance(env["b"], Stage.publication)
    snap = publication.publish_campaign(env["campaign"], make.head, now=now)
    db.session.commit()
    return snap


def _no_email(text: str, viewer: User | None = None):
    found = set(EMAIL.findall(text)) - ({viewer.email} if viewer else set())
    assert not found, f"personal data in a public output: {found}"


def test_unpublished_results_by_role(app, env, make, db):
    key = env["campaign"].key
    officer_b = logged_in(app, make.officers["10002"])
    page = officer_b.get(f"/results/{key}/live")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-code="10002"' in html and 'data-code="10001"' not in html
    assert officer_b.get(f"/results/{key}").headers["Location"].endswith(f"/results/{key}/live")
    assert officer_b.get(f"/results/{key}/export.csv").status_code == 404
    token = csrf_of(html)
    assert officer_b.post(f"/results/{key}/publish", data={"csrf_token": token}).status_code == 403
    for user in (make.auditor, make.council[1], make.leader):
        html = logged_in(app, user).get(f"/results/{key}/live").get_data(as_text=True)
        assert 'data-code="10001"' in html and 'data-code="10002"' in html, user.email
    make.campaign(key="other-2023", communes=("20001",))
    for user in db.session.scalars(select(User)):
        user.password_hash = password_hash()
    db.session.commit()
    stranger = logged_in(app, make.officers["20001"])
    assert stranger.get(f"/results/{key}/live").status_code == 404
    assert stranger.get(f"/results/{key}").status_code == 404


def test_publish_from_the_page_refuses_then_publishes(app, env, make, db):
    key = env["campaign"].key
    head = logged_in(app, make.head)
    page = head.get(f"/results/{key}/live").get_data(as_text=True)
    response = head.post(f"/results/{key}/publish", data={"csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "chưa được phê duyệt: 10002 (council_meeting)" in response.get_data(as_text=True)
    assert db.session.scalar(select(ResultSnapshot)) is None
    make.advance(env["b"], Stage.publication)
    response = head.post(f"/results/{key}/publish", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 302
    assert db.session.scalar(select(ResultSnapshot)).version == 1


def test_published_page_and_outputs(app, env, make, db, now):
    snap = _publish(make, db, env, now)
    key = env["campaign"].key
    viewer = make.officers["10002"]  # published results are for every signed-in role
    client = logged_in(app, viewer)
    page = client.get(f"/results/{key}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and snap.sha256 in html and "<svg" in html and "<script" not in html.split(
        "</head>")[1]
    assert re.search(r'data-code="10001" data-rank="1"', html)
    _no_email(html.replace(viewer.email, ""))

    book = load_workbook(io.BytesIO(client.get(f"/results/{key}/export.xlsx").data))
    assert book.sheetnames == ["Tổng hợp và xếp hạng", "Điểm tiêu chí thành phần"]
    totals = list(book.worksheets[0].iter_rows(min_row=3, values_only=True))
    assert totals[0][:3] == (1, "10001", "Xã 10001") and totals[0][6] == 5.0  # rank, code, name ... total
    assert totals[1][2] == "'=HYPERLINK(\"http://x\")"  # shown as text, never run as a formula
    detail = {row[0]: row for row in book.worksheets[1].iter_rows(min_row=2, values_only=True)}
    assert detail["1.1.2"][2:] == (2.0, 1.5, 1.5)  # max, then each commune's appraised score

    pdf = client.get(f"/results/{key}/export.pdf")
    assert pdf.headers["Content-Type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Kết quả Chỉ số cải cách hành chính" in text and "Xã 10001" in text and "71,43" in text
    assert "5,00" in text and snap.sha256 in text.replace("\n", "")

    body = client.get(f"/results/{key}/export.json").data
    assert hashlib.sha256(body).hexdigest() == snap.sha256
    exported = client.get(f"/results/{key}/export.csv")
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset, not two
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(r["commune_code"], r["rank"], r["total"], r["percentage"]) for r in rows] == [
        ("10001", "1", "5.00", "71.43"), ("10002", "1", "5.00", "71.43")]
    assert rows[1]["commune_name"].startswith("'=")
    for output in (body.decode(), text, json.dumps([list(r) for r in totals], ensure_ascii=False),
                   str(rows)):
        _no_email(output)
        assert "Nội bộ" not in output

    client.get("/lang/en")  # the English switch reaches the documents too
    english = load_workbook(io.BytesIO(client.get(f"/results/{key}/export.xlsx").data))
    assert english.sheetnames == ["Totals and ranks", "Scores per sub-criterion"]
    assert client.get(f"/results/{key}/export.exe").status_code == 404
    assert client.get(f"/results/{key}/export.pdf?version=x").status_code == 404


def test_version_2_page_shows_the_difference(app, env, make, db, now):
    _publish(make, db, env, now)
    a = env["a"]
    cases.fire(a, "reopen", make.admin, now=now, reason="Sai sót khi cộng điểm")
    publication.correct_score(a, "1.1.2", make.head, now=now, score="2", reason="Sai sót khi cộng điểm")
    db.session.commit()
    make.advance(a, Stage.publication)
    client = logged_in(app, make.auditor)
    html = client.get(f"/results/{env['campaign'].key}").get_data(as_text=True)
    difference = html.split('id="difference"')[1].split("</section>")[0]
    assert "1.1.2" in difference and "1,50" in difference and "2,00" in difference and "78,57" in difference
    old = client.get(f"/results/{env['campaign'].key}?version=1").get_data(as_text=True)
    assert 'id="difference"' not in old and "Đã có phiên bản mới hơn" in old
    assert client.get(f"/results/{env['campaign'].key}?version=3").status_code == 404
