"""Evidence files of a case: list, upload (multipart, If-Match), download (the same workflow and rules as the pages)."""

from __future__ import annotations

import io

import marshmallow as ma
from flask import request, send_file, url_for
from flask_smorest import Blueprint, abort
from marshmallow import fields

from models import MAX_ID, Evidence, db
from workflow import evidence as evidence_ops
from workflow.clock import utcnow
from workflow.txn import commit

from .auth import caller
from .common import IF_MATCH, case_or_404, etag_headers, etag_of, problem_doc, required_version

blp = Blueprint("api_evidence", __name__, url_prefix="/api/v1/cases",
                description="Evidence files of a case: upload, list, download")


class EvidenceSchema(ma.Schema):
    id = fields.Integer()
    code = fields.String(metadata={"description": "the sub-criterion the file supports"})
    file_name = fields.String()
    size = fields.Integer(metadata={"description": "bytes"})
    media_type = fields.String()
    sha256 = fields.String()
    locator = fields.String(allow_none=True, metadata={"description": "page or section in the file"})
    uploaded_at = fields.DateTime()
    download = fields.String(metadata={"description": "the API path of the file"})


class EvidenceListSchema(ma.Schema):
    case_id = fields.Integer()
    items = fields.List(fields.Nested(EvidenceSchema))


class EvidenceUploadSchema(ma.Schema):
    """multipart/form-data: the file plus the sub-criterion it supports."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "PDF, DOCX, XLSX, JPG or PNG within the size limit"})
    code = fields.String(required=True, validate=ma.validate.Length(min=1, max=50),
                         metadata={"description": "sub-criterion code, e.g. 1.1.1"})
    locator = fields.String(allow_none=True, validate=ma.validate.Length(max=200),
                            metadata={"description": "page or section in the file"})


def _problem(status: int, description: str):
    return problem_doc(blp, status, description)


def _view(row: Evidence) -> dict:
    return {"id": row.id, "code": row.item.code, "file_name": row.file_name, "size": row.size,
            "media_type": row.media_type, "sha256": row.sha256, "locator": row.locator,
            "uploaded_at": row.uploaded_at,
            "download": url_for("api_evidence.download", case_id=row.case_id, evidence_id=row.id)}


@blp.route("/<int(signed=True):case_id>/evidence")
@blp.response(200, EvidenceListSchema)
@_problem(404, "No such case, or not one the caller may see")
def list_evidence(case_id: int):
    """The case's current (not removed) evidence files, in upload order."""
    case = case_or_404(case_id)
    return {"case_id": case.id, "items": [_view(row) for row in evidence_ops.evidence_of(case)]}


@blp.route("/<int(signed=True):case_id>/evidence", methods=["POST"])
@blp.doc(parameters=[IF_MATCH],
         requestBody={"required": True, "content": {"multipart/form-data": {"schema": EvidenceUploadSchema}}})
@blp.response(201, EvidenceSchema, headers={**etag_headers(), "Location": {
    "description": "the file's download path", "schema": {"type": "string"}}})
@_problem(403, "Only the commune's own officer, in self-assessment, may add evidence")
@_problem(404, "No such case or sub-criterion, or not a case the caller may see")
@_problem(412, "If-Match names an old version of the case")
@_problem(422, "A bad field: the problem's errors name it (file too large, type not accepted, ...)")
@_problem(428, "If-Match is missing")
def upload(case_id: int):
    """Attach a file to a sub-criterion (self-assessment, the commune's officer; If-Match required)."""
    case = case_or_404(case_id)
    version = required_version(case)
    upload = request.files.get("file")
    raw = {k: v for k, v in request.form.items()}
    if upload is not None:
        raw["file"] = upload
    try:
        args = EvidenceUploadSchema().load(raw)
    except ma.ValidationError as err:
        abort(422, messages={"form": err.messages})
    data = upload.read()
    row = evidence_ops.add_evidence(case, args["code"], caller(), now=utcnow(), file_name=upload.filename or "",
                                    data=data, media_type=upload.mimetype, locator=args.get("locator"),
                                    expected_version=version)
    commit()
    body = _view(row)
    return body, 201, {"ETag": f'"{etag_of(case)}"', "Location": body["download"]}


FILE_TYPES = sorted({media for media, _magic, _member in evidence_ops.ALLOWED.values()})


@blp.route("/<int(signed=True):case_id>/evidence/<int(signed=True):evidence_id>/file")
@blp.doc(responses={"200": {"description": "The file, as an attachment", "content": {
    media: {"schema": {"type": "string", "format": "binary"}} for media in FILE_TYPES}}})
@_problem(404, "No such case or file, or not a case the caller may see")
def download(case_id: int, evidence_id: int):
    """Download one evidence file (removed files too: the history cites them), as the page does."""
    case = case_or_404(case_id)
    row = db.session.get(Evidence, evidence_id) if 0 < evidence_id <= MAX_ID else None
    if row is None or row.case_id != case.id:
        abort(404, message="No such evidence file on this case.")
    try:
        data = evidence_ops.read(row)
    except FileNotFoundError:
        abort(404, message="The stored file is missing.")
    response = send_file(io.BytesIO(data), mimetype=row.media_type, as_attachment=True,
                         download_name=row.file_name, etag=row.sha256, max_age=0)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response
