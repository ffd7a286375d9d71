"""Loading a plan file (a campaign) or a criteria set over the API: the admin pages' rule (administrators
only, YAML or JSON, a size limit, a safe YAML loader), then the same workflow functions as the admin pages
and `flask campaign load` (workflow.plans.load_plan, workflow.criteria_sets.load_criteria)."""

from __future__ import annotations

import hashlib

from flask import current_app, request
from flask_smorest import abort

from states import Role
from workflow.errors import PlanInvalid
from workflow.schemas.common import parse_text

from . import problems
from .auth import caller

DEFAULT_MAX_BYTES = 2 * 1024 * 1024  # as web/admin.py: ADMIN_UPLOAD_MAX_BYTES
FILE_SUFFIXES = (".json", ".yaml", ".yml")
# a body sent as such (not multipart) is read by its Content-Type
BODY_TYPES = {"application/yaml": ".yaml", "application/x-yaml": ".yaml", "text/yaml": ".yaml",
              "text/x-yaml": ".yaml", "application/json": ".json"}


def admins_only(what: str) -> None:
    """As the admin pages (web/admin.py): active administrators only (the API's token is always active)."""
    if not caller().has_role(Role.admin):
        abort(403, message=f"Only administrators load {what}.")


def _limit() -> int:
    return current_app.config.get("ADMIN_UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES)


def _too_large(limit: int):
    abort(413, message=f"The file is larger than {limit // 1024} KB (ADMIN_UPLOAD_MAX_BYTES).")


def _raw_and_suffix() -> tuple[bytes, str]:
    """The file's bytes and its kind (.yaml or .json): a multipart ``file`` or the whole body."""
    limit = _limit()
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        _too_large(limit)  # before reading (64 KB of slack for multipart framing)
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            abort(422, messages={"form": {"file": ["Send the plan file in the form field 'file'."]}})
        suffix = "." + upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        if suffix not in FILE_SUFFIXES:
            abort(422, messages={"form": {"file": ["Only YAML (.yaml, .yml) or JSON (.json) files can be loaded."]}})
        raw = upload.stream.read(limit + 1)
    else:
        suffix = BODY_TYPES.get(request.mimetype, "")
        if not suffix:
            abort(415, message="Send YAML (application/yaml), JSON (application/json), or multipart/form-data "
                               "with the file in 'file'.")
        raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        _too_large(limit)
    return raw, suffix


def read_upload(what: str) -> tuple[object, str]:
    """The uploaded plan or criteria file parsed (safe YAML / JSON) and the SHA-256 of its bytes.

    PlanInvalid (a 422 problem listing every problem) when it is not UTF-8 text or does not parse."""
    raw, suffix = _raw_and_suffix()
    if b"\x00" in raw:
        raise PlanInvalid(["(file): this is not a text file"], what=what)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanInvalid([f"byte {exc.start}: the file is not UTF-8 text"], what=what) from None
    return parse_text(text, suffix=suffix, what=what), hashlib.sha256(raw).hexdigest()


def refused(exc: PlanInvalid):
    """A refused file as a 422 problem: ``errors`` maps each path in the file to its messages, in order."""
    errors: dict[str, list[str]] = {}
    for line in exc.problems:
        path, sep, message = line.partition(": ")
        path, message = (path, message) if sep else ("(file)", line)
        errors.setdefault(path, []).append(message)
    detail = (f"The file was refused ({len(exc.problems)} problem(s)); nothing was loaded. "
              "'errors' lists each problem by its place in the file.")
    return problems.problem(422, detail, code="plan-invalid", errors=errors)
