"""Loading a criteria set (Bộ chỉ số) over the API: administrators, as the admin page
(workflow.criteria_sets.load_criteria)."""

from __future__ import annotations

from flask_smorest import Blueprint

from models import db
from workflow import criteria_sets, txn
from workflow.clock import utcnow
from workflow.errors import PlanInvalid

from . import uploads
from .auth import caller
from .common import problem_doc
from .schemas import CriteriaLoadSchema

blp = Blueprint("api_criteria_sets", __name__, url_prefix="/api/v1/criteria-sets",
                description="Criteria sets: loading one (a changed file adds a version)")


def _problem(status: int, description: str):
    return problem_doc(blp, status, description)


CRITERIA_BODY = {"required": True, "description": "a criteria set (see examples/criteria-quang-dien-xa-2019.json), "
                                                  "at most ADMIN_UPLOAD_MAX_BYTES (2 MB)",
                 "content": {"application/json": {"schema": {"type": "object"}},
                             "application/yaml": {"schema": {"type": "string"}},
                             "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                                 "file": {"type": "string", "format": "binary",
                                          "description": "the criteria file (.json, .yaml or .yml)"}}}}}}


@blp.route("", methods=["POST"])
@blp.doc(requestBody=CRITERIA_BODY)
@blp.response(200, CriteriaLoadSchema, description="The same content was already loaded: nothing changed")
@blp.alt_response(201, schema=CriteriaLoadSchema, description="A new criteria set, or a new version of one")
@_problem(403, "Only administrators load criteria sets (as the admin page)")
@_problem(413, "The file is larger than the limit")
@_problem(415, "Neither YAML, JSON nor multipart/form-data")
@_problem(422, "The file was refused: errors lists every problem by its path in the file; nothing was loaded")
def load_criteria():
    """Load a criteria set (JSON or YAML; the body, or a multipart field `file`); unchanged content is a no-op."""
    uploads.admins_only("criteria sets")
    try:
        data, _sha = uploads.read_upload(criteria_sets.WHAT)
        with txn.guarded():
            cs, created = criteria_sets.load_criteria(data, actor=caller(), now=utcnow())
        txn.commit()
    except PlanInvalid as exc:
        db.session.rollback()
        return uploads.refused(exc)
    body = {"key": cs.key, "version": cs.version, "created": created, "items": len(cs.items),
            "leaves": sum(1 for i in cs.items if i.is_leaf), "total_points": f"{cs.total_points:.2f}"}
    return body, 201 if created else 200
