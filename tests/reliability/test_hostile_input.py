"""Hostile input: evidence uploads (page and API) with bad names, types, sizes and zip bombs; plan and
criteria files with YAML tricks; script injection in every free text shown back; formula injection in exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import AuditEvent, Campaign, Case, CriteriaSet, Evidence, OutboxMessage, Score
from states import Role, Stage
from tests.web.conftest import fresh_g_per_request  # noqa: F401 - a fresh g per request (CSRF, user)
from tests.web.helpers import csrf_of, logged_in
from workflow import api_tokens, audit, cases, evidence

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _docx_bomb(expanded: int) -> bytes:
    """A .docx whose word/document.xml inflates to ``expanded`` bytes of zeros (about 1000:1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(expanded >> 20):
                member.write(chunk)
    return out.getvalue()


def _state(db, tmp_path):
    files = sorted(p.name for p in (tmp_path / "evidence").rglob("*") if p.is_file())
    return (db.session.scalar(select(func.count(Evidence.id))), db.session.scalar(select(func.count(AuditEvent.id))),
            files)


BAD_UPLOADS = [  # (file name, content, declared type, what the refusal says)
    ("../../x.pdf", PDF, "application/pdf", "not a plain file name"),
    ("/etc/passwd.pdf", PDF, "application/pdf", "not a plain file name"),
    ("..\\..\\win.pdf", PDF, "application/pdf", "not a plain file name"),
    ("a\x00.pdf", PDF, "application/pdf", "control characters"),
    ("note.exe", b"MZ\x90\x00", "application/octet-stream", "file type not accepted"),
    ("report.pdf.html", b"<html><script>alert(1)</script>", "text/html", "file type not accepted"),
    ("scan.pdf", PNG, "application/pdf", "content does not match the file type"),
    ("photo.png", PDF, "image/png", "content does not match the file type"),
    ("table.xlsx", b"PK\x03\x04not a zip", "application/octet-stream", "content does not match the file type"),
    ("scan.pdf", PDF, "image/png", "type does not match the file name"),
    ("big.pdf", PDF + b"0" * 5000, "application/pdf", "file too large"),
]


@pytest.fixture
def upload_case(world, db, app):
    app.config["EVIDENCE_MAX_BYTES"] = 4096  # "oversized" without sending megabytes
    return db.session.scalar(select(Case).order_by(Case.id))


def test_bad_uploads_are_refused_by_the_workflow_and_store_nothing(upload_case, world, db, now, tmp_path):
    officer = world.officers["10001"]
    before = _state(db, tmp_path)
    for name, data, media_type, why in BAD_UPLOADS:
        with pytest.raises(Exception) as refused:
            evidence.add_evidence(upload_case, "1.1.1", officer, now=now, file_name=name, data=data,
                                  media_type=media_type)
        db.session.rollback()
        assert why in str(getattr(refused.value, "errors", refused.value)), (name, refused.value)
    assert _state(db, tmp_path) == before


def test_bad_uploads_through_the_page_and_the_api(app, upload_case, world, db, now, tmp_path):
    officer = world.officers["10001"]
    client = logged_in(app, officer)
    _, raw = api_tokens.create_token(officer, "t", now=now)
    db.session.commit()
    api = app.test_client()
    before = _state(db, tmp_path)
    url = f"/cases/{upload_case.id}/self-assessment"
    for name, data, media_type, _why in BAD_UPLOADS:
        page = client.get(url).get_data(as_text=True)
        response = client.post(f"{url}/evidence", data={
            "csrf_token": csrf_of(page), "code": "1.1.1",
            "files": (io.BytesIO(data), name, media_type)})
        assert response.status_code in (303, 400, 413, 422), (name, response.status_code)
        etag = api.get(f"/api/v1/cases/{upload_case.id}", headers={"Authorization": f"Bearer {raw}"}).headers["ETag"]
        response = api.post(f"/api/v1/cases/{upload_case.id}/evidence",
                            headers={"Authorization": f"Bearer {raw}", "If-Match": etag},
                            data={"code": "1.1.1", "file": (io.BytesIO(data), name, media_type)})
        assert response.status_code in (400, 413, 422), (name, response.status_code)
        assert response.headers["Content-Type"].startswith("application/problem+json")
    assert _state(db, tmp_path) == before
    # a refusal on the page says what was wrong with which file
    page = client.get(url).get_data(as_text=True)
    response = client.post(f"{url}/evidence", data={"csrf_token": csrf_of(page), "code": "1.1.1",
                                                    "files": (io.BytesIO(PNG), "scan.pdf", "application/pdf")},
                           follow_redirects=True)
    assert "scan.pdf" in response.get_data(as_text=True)


def test_a_zip_bomb_is_stored_as_it_came_and_never_expanded(upload_case, world, db, now, monkeypatch, app):
    app.config["EVIDENCE_MAX_BYTES"] = 20 * 1024 * 1024
    bomb = _docx_bomb(64 << 20)  # 64 MB inflated from about 64 KB (the ratio, not the size, is the point)
    assert len(bomb) < 1 << 20

    def no_inflating(*_args, **_kwargs):
        raise AssertionError("an uploaded archive was opened for reading")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_inflating)  # read() and extract() go through open()
    row = evidence.add_evidence(upload_case, "1.1.1", world.officers["10001"], now=now, file_name="bomb.docx",
                                data=bomb, media_type=None)
    db.session.commit()
    stored = evidence.path_for(row.sha256)
    assert stored.stat().st_size == len(bomb) == row.size  # kept compressed, byte for byte
    assert "web" not in stored.relative_to(evidence.storage_dir().parent).parts


# --- plan and criteria files -------------------------------------------------------------------------

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
BAD_FILES = [  # (name, bytes, words the refusal must contain: the page speaks Vietnamese)
    ("laughs.yaml", LAUGHS.encode(), "bí danh (*a)"),
    ("merge.yaml", b"base: &b {key: x}\ncampaign:\n  <<: *b\n", "khóa gộp"),
    ("evil.yaml", b"campaign: !!python/object/apply:os.system ['touch /tmp/pwned']\n", "python/object"),
    ("broken.json", b'{"key": "x",,}', "dòng 1, cột 13"),
    ("broken.yaml", b"campaign:\n  key: [unclosed\n", "dòng 3"),
    ("latin1.yaml", b"campaign: Qu\xe1ng\n", "byte thứ 12"),
    ("nul.yaml", b"campaign: x\x00", "Đây không phải là tệp văn bản"),
    ("huge.yaml", b"# " + b"x" * (100 << 10), "Tệp lớn hơn 64 KB"),  # ADMIN_UPLOAD_MAX_BYTES set to 64 KB below
    ("plan.exe", b"campaign: x", "Chỉ nạp được tệp YAML"),
    ("list.yaml", b"- 1\n- 2\n", "cần dạng khóa: giá trị"),
]


def _loaded(db):
    return (db.session.scalar(select(func.count(CriteriaSet.id))), db.session.scalar(select(func.count(Campaign.id))),
            db.session.scalar(select(func.count(AuditEvent.id))))


@pytest.mark.parametrize("page", ["/admin/criteria", "/admin/plans"])
def test_hostile_plan_and_criteria_files_are_refused_by_name_and_load_nothing(app, world, db, page):
    app.config["ADMIN_UPLOAD_MAX_BYTES"] = 64 << 10  # small enough that the test client keeps bodies in memory
    client = logged_in(app, world.admin)
    before = _loaded(db)
    for name, data, words in BAD_FILES:
        token = csrf_of(client.get(page).get_data(as_text=True))
        response = client.post(page, data={"csrf_token": token, "file": (io.BytesIO(data), name)})
        body = response.get_data(as_text=True)
        assert response.status_code == 422, (name, response.status_code)
        assert words in body.replace("&#39;", "'").replace("&lt;", "<"), (name, words)
    assert _loaded(db) == before
    assert not __import__("os").path.exists("/tmp/pwned")


def test_the_cli_refuses_a_billion_laughs_criteria_file(app, world, db, tmp_path):
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text(LAUGHS)
    before = _loaded(db)
    result = app.test_cli_runner().invoke(args=["criteria", "load", str(bomb)])
    assert result.exit_code != 0 and "aliases" in result.output, result.output
    assert _loaded(db) == before


# --- script injection in free text ------------------------------------------------------------------

SCRIPT = "<script>alert('xss')</script>"
ESCAPED = ("&lt;script&gt;alert(", )


def test_injected_script_is_escaped_on_every_page_and_in_e_mails(app, world, make, db, now):
    case = db.session.scalar(select(Case).order_by(Case.id))
    officer = world.officers["10001"]
    case.commune.name = f"Xã {SCRIPT}"
    officer.name = f"Cán bộ {SCRIPT}"
    make.fill_self(case)
    for score in db.session.scalars(select(Score).where(Score.case_id == case.id)):
        score.explanation = f"Giải trình {SCRIPT}"
    evidence.add_evidence(case, "1.1.1", officer, now=now, file_name="<svg onload=alert(1)>.pdf", data=PDF,
                          media_type="application/pdf", locator=f"trang {SCRIPT}")
    db.session.commit()
    make.advance(case, Stage.appraisal)
    result = cases.fire(case, "return_for_revision", world.secretariat, now=now + dt.timedelta(hours=1),
                        reason=f"Thiếu {SCRIPT}", revision_due=dt.date(2023, 11, 20))
    assert result.fired
    db.session.commit()
    pages = {officer: [f"/cases/{case.id}", f"/cases/{case.id}/self-assessment", "/cases"],
             world.secretariat: ["/board", "/board/table", f"/cases/{case.id}", f"/cases/{case.id}/appraisal"],
             world.auditor: ["/audit", f"/audit/cases/{case.id}"],
             world.admin: ["/admin/users", "/admin/communes", f"/admin/users/{officer.id}"]}
    shown = 0
    for user, urls in pages.items():
        client = logged_in(app, user)
        for url in urls:
            response = client.get(url, follow_redirects=True)
            html = response.get_data(as_text=True)
            assert response.status_code == 200, url
            assert SCRIPT not in html and "<svg onload" not in html, url
            shown += html.count("&lt;script&gt;alert(")
    assert shown >= 10  # the texts were shown, escaped
    [notice] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notice")).all()
    assert SCRIPT not in notice.body_html and "&lt;script&gt;alert(" in notice.body_html
    assert SCRIPT in notice.body_text  # plain text is not HTML: kept as written


# --- formula injection in exports -------------------------------------------------------------------

FORMULAS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_exports_neutralise_formulas(app, world, make, db, now):
    campaign = make.campaign_obj
    a = db.session.scalar(select(Case).order_by(Case.id))
    b = make.case_of(campaign, "10002")
    client = logged_in(app, world.secretariat)
    for first, second in zip(FORMULAS[::2], FORMULAS[1::2], strict=True):
        a.commune.name, b.commune.name = first, second
        db.session.commit()
        names = {a.commune.code: first, b.commune.code: second}
        body = client.get(f"/board/table.csv?campaign={campaign.key}").get_data(as_text=True).lstrip("\ufeff")
        rows = {r[0]: r for r in csv.reader(io.StringIO(body))}
        book = load_workbook(io.BytesIO(client.get(f"/board/table.xlsx?campaign={campaign.key}").data))
        cells = {row[0].value: row[1] for row in book.active.iter_rows(min_row=2)}
        for code, formula in names.items():
            assert rows[code][1] == "'" + formula, (code, rows[code])
            assert cells[code].data_type == "s" and cells[code].value == formula, code  # text, never a formula
    # the audit export: an actor and a subject that look like formulas are neutralised too
    mallory = make.user("=1+1@example.vn", Role.secretariat)
    audit.record("test.formula", actor=mallory, now=now, subject="@SUM(A1)", after={"note": "-2+3"})
    db.session.commit()
    exported = logged_in(app, world.auditor).get("/audit/export.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
    assert any("'=1+1@example.vn" in row and "'@SUM(A1)" in row for row in rows)
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
