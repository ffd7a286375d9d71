"""Audit events with their chain fields, and the integrity check (workflow.history, as the auditor's pages)."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from states import Role
from workflow import audit, audit_anchor, history
from workflow.clock import utcnow
from workflow.txn import commit

from .auth import caller
from .common import before_body, problem_doc
from .schemas import PageArgsSchema

blp = Blueprint("api_audit", __name__, url_prefix="/api/v1/audit",
                description="Audit events with their chain fields, and the integrity check")

READERS = (Role.auditor, Role.admin, Role.secretariat_head)  # as web/auditor.py


def _problem(status: int, description: str):
    return problem_doc(blp, status, description)


class EventArgsSchema(PageArgsSchema):
    campaign = fields.String(validate=validate.Length(max=100), metadata={"description": "campaign key"})
    case = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1), metadata={"description": "case id"})
    action = fields.String(validate=validate.Length(max=100), metadata={"description": "e.g. case.transition"})
    from_ = fields.Date(data_key="from", metadata={"description": "first local day (YYYY-MM-DD), inclusive"})
    to = fields.Date(metadata={"description": "last local day (YYYY-MM-DD), inclusive"})

    @ma.validates_schema
    def _from_not_after_to(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            message = "'from' is later than 'to'."
            raise ma.ValidationError({"from": [message], "to": [message]})


class EventSchema(ma.Schema):
    """One event with every field its hash covers, and the chain fields (as the audit export)."""

    seq = fields.Integer(required=True)
    id = fields.Integer(required=True)
    occurred_at = fields.String(required=True, metadata={"description": "UTC, as hashed"})
    actor = fields.String(required=True)
    actor_id = fields.Integer(allow_none=True)
    action = fields.String(required=True)
    campaign = fields.String(allow_none=True, metadata={"description": "campaign key"})
    campaign_id = fields.Integer(allow_none=True)
    commune = fields.String(allow_none=True, metadata={"description": "commune code"})
    case_id = fields.Integer(allow_none=True)
    subject = fields.String(allow_none=True)
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


EventPageSchema = type("EventPageSchema", (ma.Schema,), {
    "items": fields.List(fields.Nested(EventSchema), required=True),
    "page": fields.Integer(required=True, metadata={"description": "a page past the last gives the last"}),
    "per_page": fields.Integer(required=True), "total": fields.Integer(required=True)})


class AnchorCheckSchema(ma.Schema):
    seq = fields.Integer(required=True)
    hash = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "matches, differs (the history up to it was "
                                                                   "rewritten) or missing (cut back)"})
    found = fields.String(allow_none=True, metadata={"description": "the hash the event at seq has now"})


class IntegritySchema(ma.Schema):
    ok = fields.Boolean(required=True)
    checked = fields.Integer(required=True, metadata={
        "description": "events verified as a chain: those before the first bad one, or all of them when only "
                       "an anchor fails"})
    first_bad_seq = fields.Integer(allow_none=True)
    first_bad_id = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True, metadata={"description": "why the chain is broken there"})
    seconds = fields.Float()
    at = fields.DateTime()
    seq = fields.Integer(allow_none=True, metadata={"description": "the seq of the audit.verified event recording "
                                                                  "this check"})
    anchor = fields.Method("_anchor", allow_none=True, metadata={
        "description": "SEQ:HASH of the audit.verified event recording this check: keep it outside the system"})
    anchors = fields.List(fields.Nested(AnchorCheckSchema), metadata={
        "description": "the anchors given, each checked against the event stored at its seq"})

    def _anchor(self, check):
        return check.anchor.text if check.anchor else None


class IntegrityArgsSchema(ma.Schema):
    anchors = fields.List(fields.String(validate=validate.Regexp(audit_anchor.CANONICAL,
                                                                 error="write each anchor as SEQ:HASH")),
                          validate=validate.Length(max=audit_anchor.MAX_ANCHORS),
                          load_default=list, metadata={
                              "description": "anchors held outside the system, each SEQ:HASH as the daily anchor "
                                             "e-mail gives it; a rewritten history fails the first one it reaches "
                                             "back past"})


def _readers_only():
    if not caller().has_role(*READERS):
        abort(403, message="Only auditors, administrators and the secretariat head read the audit log.")


@blp.route("/events")
@blp.arguments(EventArgsSchema, location="query", as_kwargs=False)
@blp.response(200, EventPageSchema)
@_problem(403, "The caller is not an auditor, administrator or secretariat head")
@_problem(404, "No such campaign")
def events(args):
    """Matching events in seq order with their chain fields (the auditor's history search).

    An unknown campaign key is 404; ``from`` after ``to`` is 422 naming both."""
    _readers_only()
    campaign_id = None
    if args.get("campaign"):
        campaign = history.campaign_by_key(args["campaign"])
        if campaign is None:
            abort(404, message=f"No such campaign: {args['campaign']}.")
        campaign_id = campaign.id
    f = history.HistoryFilter(campaign_id=campaign_id, case_id=args.get("case"), action=args.get("action"),
                              date_from=args.get("from_"), date_to=args.get("to"))
    found = history.search(f, args["page"], args["per_page"])
    items = []
    for row in found.rows:
        item = audit.as_dict(row.event)
        item.update(actor_id=row.event.actor_id, campaign=row.campaign_key, commune=row.commune_code)
        items.append(item)
    return {"items": items, "page": found.page, "per_page": found.per_page, "total": found.total}


@blp.route("/integrity", methods=["POST"])
@before_body(_readers_only)  # 403 for another role, whatever body it sent
@blp.arguments(IntegrityArgsSchema, required=False)
@blp.response(200, IntegritySchema)
@_problem(403, "The caller is not an auditor, administrator or secretariat head")
@_problem(422, "An anchor is not SEQ:HASH, or more than 100 are given")
def integrity(args):
    """Verify the whole chain now, and each anchor held against it; the result is itself recorded as an
    audit.verified event. A rewritten history verifies as a chain: ``ok`` is false when an anchor differs."""
    anchors = audit_anchor.parse_many(args.get("anchors") or [])
    check = history.check_integrity(caller(), now=utcnow(), anchors=anchors)
    commit()
    return check
