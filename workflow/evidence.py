"""Evidence documents (tài liệu kiểm chứng): checked, stored by SHA-256 outside the web root, audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from config import ROOT
from models import Case, Evidence, User, db
from states import Role, Stage

from . import access, audit, events
from .errors import InvalidInput, NotFound, NotPermitted
from .scores import item_by_code
from .txn import check_version, flush, guarded, touch

# extension -> (media type, magic bytes at offset 0, member a zip must hold for Office files)
ALLOWED = {
    ".pdf": ("application/pdf", b"%PDF-", None),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04",
              "word/document.xml"),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04",
              "xl/workbook.xml"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff", None),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff", None),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n", None),
}
# what browsers send when they do not know better; anything else must match the extension
GENERIC_MEDIA_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


class StorageUnavailable(InvalidInput):
    """The evidence store could not take the bytes (an OS error): nothing of the upload was kept."""

    code = "storage-unavailable"


def storage_dir() -> Path:
    """The evidence store (EVIDENCE_DIR); refused if it lies inside the web root (web/)."""
    base = Path(current_app.config.get("EVIDENCE_DIR") or ROOT / "instance" / "evidence").resolve()
    web_root = (ROOT / "web").resolve()
    if base == web_root or web_root in base.parents:
        raise RuntimeError(f"EVIDENCE_DIR {base} is inside the web root; files could be served directly")
    return base


def path_for(sha256: str) -> Path:
    """Content-addressed location: <EVIDENCE_DIR>/ab/cd/<sha256>."""
    return storage_dir() / sha256[:2] / sha256[2:4] / sha256


def read(evidence: Evidence) -> bytes:
    """The stored bytes of an evidence row."""
    return path_for(evidence.sha256).read_bytes()


def check_file_name(file_name: str) -> str:
    """A plain file name: no directories, no '..', no control characters, at most 255 characters."""
    name = (file_name or "").strip()
    if not name:
        raise InvalidInput("The file needs a name.", {"file": ["missing file name"]})
    if len(name) > 255:
        raise InvalidInput("The file name is longer than 255 characters.", {"file": ["name too long"]})
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".") or ".." in name:
        raise InvalidInput(f"'{file_name}' is not a plain file name (no folders or '..').",
                           {"file": ["not a plain file name"]})
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InvalidInput("The file name contains control characters.", {"file": ["control characters"]})
    return name


def check_content(file_name: str, data: bytes, media_type: str | None) -> str:
    """Size, extension and magic bytes agree; returns the canonical media type."""
    limit = int(current_app.config.get("EVIDENCE_MAX_BYTES") or DEFAULT_MAX_BYTES)
    if not data:
        raise InvalidInput(f"{file_name}: the file is empty.", {"file": ["empty file"]})
    if len(data) > limit:
        raise InvalidInput(f"{file_name}: {len(data)} bytes is over the limit of {limit} bytes.",
                           {"file": ["file too large"]})
    ext = os.path.splitext(file_name)[1].lower()
    if ext not in ALLOWED:
        raise InvalidInput(f"{file_name}: only PDF, DOCX, XLSX, JPG and PNG files are accepted.",
                           {"file": ["file type not accepted"]})
    canonical, magic, member = ALLOWED[ext]
    given = (media_type or "").split(";")[0].strip().lower()
    if given not in GENERIC_MEDIA_TYPES and given != canonical:
        raise InvalidInput(f"{file_name}: declared as {given}, but the name says {canonical}.",
                           {"file": ["type does not match the file name"]})
    if not data.startswith(magic) or (member and not _zip_has(data, member)):
        raise InvalidInput(f"{file_name}: the content is not a {ext[1:].upper()} file.",
                           {"file": ["content does not match the file type"]})
    return canonical


def _zip_has(data: bytes, member: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return member in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _store(data: bytes, sha256: str) -> Path:
    # Written before the row and atomically: a rolled-back transaction leaves at most an unreferenced
    # file, never a row pointing at a half-written one. Same content, same path: no duplicates.
    target = path_for(sha256)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _require_officer_in_self_assessment(case: Case, actor: User) -> None:
    if not (actor.has_role(Role.commune_officer) and access.in_commune_scope(actor, case)):
        raise NotPermitted("Only the commune's own officer may change its evidence.")
    if case.stage_enum != Stage.self_assessment:
        raise NotPermitted(f"Evidence can only be changed in self-assessment (the case is in {case.stage}).")


@guarded()
def add_evidence(case: Case, code: str, actor: User, *, now: dt.datetime, file_name: str, data: bytes,
                 media_type: str | None, locator: str | None = None,
                 expected_version: int | None = None) -> Evidence:
    """Attach an evidence file to sub-criterion ``code``; checks it, stores it by hash, audits it."""
    check_version(case, expected_version)
    _require_officer_in_self_assessment(case, actor)
    item = item_by_code(case, code)
    if item.method != "self":
        raise InvalidInput(f"{code}: is filled from the survey and takes no evidence")
    name = check_file_name(file_name)
    canonical = check_content(name, data, media_type)
    locator = (locator or "").strip()[:200] or None
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        _store(data, sha256)
    except OSError as exc:  # disk full, quota, read-only store: our fault, said plainly; no row was written
        current_app.logger.error("evidence store refused %s (%d bytes): %s", name, len(data), exc)
        raise StorageUnavailable(
            f"{name}: the file could not be stored (the evidence store is full or not writable); nothing was "
            "saved. Try again later or tell the administrator.", {"file": ["the evidence store is unavailable"]},
        ) from None
    row = Evidence(case_id=case.id, item_id=item.id, file_name=name, sha256=sha256, size=len(data),
                   media_type=canonical, locator=locator, uploaded_by_id=actor.id, uploaded_at=now)
    db.session.add(row)
    touch(case, now)
    db.session.flush()
    audit.record("evidence.added", actor=actor, now=now, case=case, subject=item.code,
                 after={"id": row.id, "file_name": name, "sha256": sha256, "size": len(data),
                        "media_type": canonical, "locator": locator})
    events.publish(events.EvidenceChanged(case.id, now, item.code, True))
    flush()
    return row


@guarded()
def remove_evidence(case: Case, evidence_id: int, actor: User, *, now: dt.datetime,
                    expected_version: int | None = None) -> Evidence:
    """Mark an evidence file removed (the bytes stay: the audit trail and signatures refer to them)."""
    check_version(case, expected_version)
    _require_officer_in_self_assessment(case, actor)
    row = db.session.get(Evidence, evidence_id)
    if row is None or row.case_id != case.id or row.removed_at is not None:
        raise NotFound(f"No evidence {evidence_id} on this case.")
    row.removed_at, row.removed_by_id = now, actor.id
    touch(case, now)
    audit.record("evidence.removed", actor=actor, now=now, case=case, subject=row.item.code,
                 before={"id": row.id, "file_name": row.file_name, "sha256": row.sha256})
    events.publish(events.EvidenceChanged(case.id, now, row.item.code, False))
    flush()
    return row


def evidence_of(case: Case) -> list[Evidence]:
    """The case's current (not removed) evidence, in upload order."""
    return list(db.session.scalars(select(Evidence).where(
        Evidence.case_id == case.id, Evidence.removed_at.is_(None)).order_by(Evidence.id)))
