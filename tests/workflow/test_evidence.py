import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import ROOT
from models import AuditEvent, Evidence
from states import Stage
from workflow import audit, evidence
from workflow.errors import InvalidInput, NotPermitted

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


@pytest.fixture
def case(make):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    return case


def _rows(db):
    return db.session.scalar(select(func.count()).select_from(Evidence))


def test_stored_by_sha256_outside_the_web_root(app, make, case, db, now):
    officer = make.officers["10001"]
    row = evidence.add_evidence(case, "1.1.1", officer, now=now, file_name="Kế hoạch CCHC 2023.pdf",
                                data=PDF, media_type="application/pdf", locator="trang 2")
    db.session.commit()
    digest = hashlib.sha256(PDF).hexdigest()
    path = Path(app.config["EVIDENCE_DIR"]) / digest[:2] / digest[2:4] / digest
    assert row.sha256 == digest and row.size == len(PDF) and row.media_type == "application/pdf"
    assert path.read_bytes() == PDF
    assert evidence.path_for(digest) == path.resolve()
    assert (ROOT / "web").resolve() not in path.resolve().parents
    assert Path(app.static_folder).resolve() not in path.resolve().parents
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.added"))
    assert event.subject == "1.1.1" and event.after["sha256"] == digest and event.after["id"] == row.id
    assert audit.verify().ok


def test_docx_and_png_accepted_and_same_content_stored_once(app, make, case, db, now):
    officer = make.officers["10001"]
    evidence.add_evidence(case, "1.1.1", officer, now=now, file_name="bao-cao.docx", data=_docx(),
                          media_type="application/octet-stream")
    evidence.add_evidence(case, "2.1.1", officer, now=now, file_name="anh.png", data=PNG, media_type="image/png")
    evidence.add_evidence(case, "1.1.2", officer, now=now, file_name="copy.png", data=PNG, media_type=None)
    db.session.commit()
    assert _rows(db) == 3
    files = [p for p in Path(app.config["EVIDENCE_DIR"]).rglob("*") if p.is_file()]
    assert len(files) == 2


@pytest.mark.parametrize("file_name,data,media_type,message", [
    ("scan.pdf", PNG, "application/pdf", "not a PDF"),
    ("scan.png", PDF, "image/png", "not a PNG"),
    ("fake.docx", b"PK\x03\x04" + b"\x00" * 40, None, "not a DOCX"),
    ("bang.xlsx", _docx(), None, "not a XLSX"),
    ("script.exe", b"MZ\x90\x00", None, "only PDF"),
    ("scan.pdf", PDF, "image/png", "declared as image/png"),
    ("../../etc/passwd.pdf", PDF, None, "not a plain file name"),
    ("..\\boot.pdf", PDF, None, "not a plain file name"),
    ("a/b.pdf", PDF, None, "not a plain file name"),
    ("", PDF, None, "needs a name"),
    ("empty.pdf", b"", None, "empty"),
])
def test_bad_files_refused_with_a_clear_error_and_no_row(app, make, case, db, now, file_name, data,
                                                         media_type, message):
    with pytest.raises(InvalidInput) as err:
        evidence.add_evidence(case, "1.1.1", make.officers["10001"], now=now, file_name=file_name,
                              data=data, media_type=media_type)
    assert message in err.value.message
    db.session.rollback()
    assert _rows(db) == 0
    assert not Path(app.config["EVIDENCE_DIR"]).exists() or not any(
        p.is_file() for p in Path(app.config["EVIDENCE_DIR"]).rglob("*"))


def test_oversized_file_refused(app, make, case, db, now):
    app.config["EVIDENCE_MAX_BYTES"] = 1024
    with pytest.raises(InvalidInput, match="over the limit of 1024 bytes"):
        evidence.add_evidence(case, "1.1.1", make.officers["10001"], now=now, file_name="big.pdf",
                              data=PDF + b"0" * 2000, media_type="application/pdf")
    db.session.rollback()
    assert _rows(db) == 0


def test_only_the_communes_officer_in_self_assessment(app, make, case, db, now):
    for who in (make.officers["10002"], make.secretariat, make.chairs["10001"]):
        with pytest.raises(NotPermitted):
            evidence.add_evidence(case, "1.1.1", who, now=now, file_name="x.pdf", data=PDF, media_type=None)
    db.session.rollback()
    make.advance(case, Stage.appraisal)
    with pytest.raises(NotPermitted, match="only be changed in self-assessment"):
        evidence.add_evidence(case, "1.1.1", make.officers["10001"], now=now, file_name="x.pdf", data=PDF,
                              media_type=None)
    db.session.rollback()
    assert _rows(db) == 0


def test_remove_marks_the_row_and_audits(app, make, case, db, now):
    officer = make.officers["10001"]
    row = evidence.add_evidence(case, "1.1.1", officer, now=now, file_name="kh.pdf", data=PDF, media_type=None)
    db.session.commit()
    evidence.remove_evidence(case, row.id, officer, now=now)
    db.session.commit()
    assert row.removed_at is not None and evidence.evidence_of(case) == []
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.removed"))
    assert event.before["id"] == row.id
    assert audit.replay(case.id, now).evidence == {}
    assert audit.verify().ok
