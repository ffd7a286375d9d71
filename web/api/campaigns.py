"""Campaigns the caller may see (the same rule as the pages: workflow.queries.campaigns_visible_to), and
loading a plan file (administrators, as the admin page: workflow.plans.load_plan)."""

from __future__ import annotations

from flask import url_for
from flask_smorest import Blueprint, abort

from models import db
from workflow import plans, queries, txn
from workflow.clock import utcnow
from workflow.errors import PlanInvalid

from . import uploads
from .auth import caller
from .common import paginate, problem_doc
from .schemas import CampaignPageSchema, CampaignSchema, PageArgsSchema, PlanLoadSchema

blp = Blueprint("api_campaigns", __name__, url_prefix="/api/v1/campaigns",
                description="Assessment campaigns (one per year and authority); loading a plan file")


def _problem(status: int, description: str):
    return problem_doc(blp, status, description)


@blp.route("")
@blp.arguments(PageArgsSchema, location="query", as_kwargs=False)
@blp.response(200, CampaignPageSchema)
def list_campaigns(args):
    """Campaigns in which the caller may see at least one case, newest year first, then by key."""
    return paginate(queries.campaigns_visible_to(caller()), args)


@blp.route("/<key>")
@blp.response(200, CampaignSchema)
def get_campaign(key: str):
    """One campaign (404 when it does not exist or the caller sees none of its cases)."""
    found = next((c for c in queries.campaigns_visible_to(caller()) if c.key == key), None)
    if found is None:
        abort(404, message="No such campaign.")
    return found


PLAN_BODY = {"required": True, "description": "a plan file (see examples/plan-nui-thanh-2023.yaml), at most "
                                              "ADMIN_UPLOAD_MAX_BYTES (2 MB)",
             "content": {"application/yaml": {"schema": {"type": "string"}},
                         "application/json": {"schema": {"type": "object"}},
                         "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                             "file": {"type": "string", "format": "binary",
                                      "description": "the plan file (.yaml, .yml or .json)"}}}}}}


@blp.route("", methods=["POST"])
@blp.doc(requestBody=PLAN_BODY)
@blp.response(200, PlanLoadSchema, description="An existing campaign updated (or unchanged: the same file again)",
              headers={"Location": {"description": "the campaign's API path", "schema": {"type": "string"}}})
@blp.alt_response(201, schema=PlanLoadSchema, description="A new campaign created",
                  headers={"Location": {"description": "the campaign's API path", "schema": {"type": "string"}}})
@_problem(403, "Only administrators load plan files (as the admin page)")
@_problem(413, "The file is larger than the limit")
@_problem(415, "Neither YAML, JSON nor multipart/form-data")
@_problem(422, "The plan was refused: errors lists every problem by its path in the file; nothing was loaded")
def load_plan():
    """Create or update a campaign from a plan file (YAML or JSON; the body, or a multipart field `file`).

    Loading is idempotent; a refused file changes nothing."""
    uploads.admins_only("plan files")
    try:
        data, sha = uploads.read_upload(plans.WHAT)
        with txn.guarded():
            report = plans.load_plan(data, actor=caller(), now=utcnow(), source_sha256=sha)
        txn.commit()
    except PlanInvalid as exc:
        db.session.rollback()
        return uploads.refused(exc)
    location = url_for("api_campaigns.get_campaign", key=report.campaign.key)
    body = {"campaign": report.campaign.key, "changed": report.changed, "created": dict(report.created),
            "updated": dict(report.updated), "summary": report.summary()}
    return body, 201 if report.created.get("campaign") else 200, {"Location": location}
