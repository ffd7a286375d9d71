"""The API's wire shapes (marshmallow): problems, pages, campaigns, cases, readiness, transitions."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from states import Stage

MAX_PER_PAGE = 100


class BlockerSchema(ma.Schema):
    code = fields.String(required=True, metadata={"description": "criterion code the blocker is about, or ''"})
    reason = fields.String(required=True)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (media type application/problem+json)."""

    type = fields.String(required=True, metadata={"description": "stable URI naming the kind of problem"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "validation errors: every field at fault with its messages"})
    blockers = fields.List(fields.Nested(BlockerSchema),
                           metadata={"description": "what refuses a transition"})
    transition = fields.String()


class PageArgsSchema(ma.Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class CaseListArgsSchema(PageArgsSchema):
    campaign = fields.String(validate=validate.Length(max=100), metadata={"description": "campaign key"})
    stage = fields.String(validate=validate.OneOf([s.value for s in Stage]))
    commune = fields.String(validate=validate.Length(max=20), metadata={"description": "commune code"})
    overdue = fields.Boolean(metadata={"description": "only cases past their binding deadline (true) or not (false)"})


class PlanLoadSchema(ma.Schema):
    campaign = fields.String(required=True, metadata={"description": "the campaign key the plan names"})
    changed = fields.Boolean(required=True, metadata={"description": "false when the same plan was already loaded"})
    created = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                          metadata={"description": "rows created by kind (campaign, commune, user, case, ...)"})
    updated = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    summary = fields.String(required=True)


class CriteriaLoadSchema(ma.Schema):
    key = fields.String(required=True, metadata={"description": "the criteria set's id"})
    version = fields.Integer(required=True, metadata={"description": "a changed file adds a version"})
    created = fields.Boolean(required=True, metadata={"description": "false when the same content was loaded"})
    items = fields.Integer(required=True)
    leaves = fields.Integer(required=True, metadata={"description": "sub-criteria (scored items)"})
    total_points = fields.String(required=True, metadata={"description": "decimal string, e.g. \"100.00\""})


class CommuneListArgsSchema(PageArgsSchema):
    campaign = fields.String(validate=validate.Length(max=100),
                             metadata={"description": "campaign key: only communes with a case in it"})
    code = fields.String(validate=validate.Length(max=20), metadata={"description": "commune code (exact)"})
    q = fields.String(validate=validate.Length(max=100),
                      metadata={"description": "search: code or name contains it (accents and case ignored)"})


class CommuneCaseSchema(ma.Schema):
    id = fields.Integer(required=True)
    campaign = fields.String(required=True, metadata={"description": "campaign key"})
    stage = fields.String(required=True)


class CommuneSchema(ma.Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    authority = fields.String(required=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    cases = fields.List(fields.Nested(CommuneCaseSchema), required=True,
                        metadata={"description": "the commune's cases the caller may see, newest campaign first"})


class CampaignSchema(ma.Schema):
    key = fields.String(required=True)
    year = fields.Integer(required=True)
    title = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    timezone = fields.String()
    authority = fields.Function(lambda c: c.authority.name)


class CommuneRefSchema(ma.Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)


class DeadlineSchema(ma.Schema):
    due = fields.Date(required=True)
    plan_due = fields.Date()
    kind = fields.String()
    working_days_left = fields.Integer(metadata={"description": "0 on the due day, negative once late"})
    late = fields.Boolean()


class CaseSchema(ma.Schema):
    id = fields.Integer(required=True)
    campaign = fields.Function(lambda c: c.campaign.key)
    commune = fields.Function(lambda c: {"code": c.commune.code, "name": c.commune.name},
                              metadata={"description": "the commune's code and name"})
    stage = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "the case version, also its ETag \"v<version>\""})
    revision_due = fields.Date(allow_none=True)
    updated_at = fields.DateTime()
    deadline = fields.Nested(DeadlineSchema, allow_none=True, dump_default=None,
                             metadata={"description": "the open deadline binding the case now"})


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A page envelope: {items, page, per_page, total}."""
    return type(name, (ma.Schema,), {
        "items": fields.List(fields.Nested(item_schema), required=True),
        "page": fields.Integer(required=True),
        "per_page": fields.Integer(required=True),
        "total": fields.Integer(required=True, metadata={"description": "items matching, over all pages"}),
    })


CampaignPageSchema = page_schema(CampaignSchema, "CampaignPageSchema")
CasePageSchema = page_schema(CaseSchema, "CasePageSchema")
CommunePageSchema = page_schema(CommuneSchema, "CommunePageSchema")


class TransitionReadinessSchema(ma.Schema):
    name = fields.String(required=True)
    ready = fields.Boolean(required=True, metadata={"description": "true when nothing blocks it for the caller"})
    blockers = fields.List(fields.Nested(BlockerSchema), required=True)


class ReadinessSchema(ma.Schema):
    case_id = fields.Integer(required=True)
    stage = fields.String(required=True)
    version = fields.Integer(required=True)
    transitions = fields.List(fields.Nested(TransitionReadinessSchema), required=True)


class TransitionArgsSchema(ma.Schema):
    reason = fields.String(allow_none=True, validate=validate.Length(max=4000))
    revision_due = fields.Date(allow_none=True, metadata={"description": "YYYY-MM-DD, for a return for revision"})


class FireResultSchema(ma.Schema):
    fired = fields.Boolean(required=True, metadata={"description": "false when a council sign-off was opened instead"})
    source = fields.String(required=True)
    dest = fields.String(allow_none=True)
    sign_off_id = fields.Integer(allow_none=True)
    case = fields.Nested(CaseSchema, required=True)
