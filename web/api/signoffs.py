"""Council sign-offs: pending for the caller, approve, reject (the same rules as the council pages)."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from models import MAX_ID, Case, SignOff, db
from states import COUNCIL_ROLES
from workflow import history, signoff
from workflow.clock import utcnow
from workflow.txn import commit

from .auth import caller
from .cases import IF_MATCH
from .common import before_body, etag_of, paginate, problem_doc, required_version
from .schemas import PageArgsSchema

blp = Blueprint("api_signoffs", __name__, url_prefix="/api/v1/sign-offs",
                description="Council sign-offs: pending for the caller, approve, reject")


def _problem(status: int, description: str):
    return problem_doc(blp, status, description)


class SignOffSchema(ma.Schema):
    id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)
    campaign = fields.Function(lambda s: _case(s).campaign.key)
    commune = fields.Function(lambda s: {"code": _case(s).commune.code, "name": _case(s).commune.name},
                              metadata={"description": "the commune's code and name"})
    transition = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending, approved or rejected"})
    requested_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    case_version = fields.Function(lambda s: _case(s).version,
                                   metadata={"description": "the case version: send \"v<version>\" as If-Match"})
    approvals = fields.Function(lambda s: signoff.progress(s).approvals)
    needed = fields.Function(lambda s: signoff.progress(s).needed,
                             metadata={"description": "approvals the quorum needs"})


def _case(so: SignOff) -> Case:
    return db.session.get(Case, so.case_id)


SignOffPageSchema = type("SignOffPageSchema", (ma.Schema,), {
    "items": fields.List(fields.Nested(SignOffSchema), required=True),
    "page": fields.Integer(required=True), "per_page": fields.Integer(required=True),
    "total": fields.Integer(required=True)})


class DecisionArgsSchema(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    comment = fields.String(allow_none=True, validate=validate.Length(max=4000),
                            metadata={"description": "required when rejecting"})


class DecisionResultSchema(ma.Schema):
    sign_off = fields.Nested(SignOffSchema, required=True)
    stage = fields.String(required=True, metadata={"description": "the case's stage after the decision"})
    fired = fields.Boolean(required=True, metadata={"description": "true when the quorum was reached and the "
                                                                   "transition fired"})


def _council_only():
    if not caller().has_role(*COUNCIL_ROLES):
        abort(403, message="Only council members see sign-offs.")


@blp.route("")
@blp.arguments(PageArgsSchema, location="query", as_kwargs=False)
@blp.response(200, SignOffPageSchema)
@_problem(403, "The caller is not a council member")
def pending(args):
    """Pending sign-offs in the caller's council campaigns that the caller has not signed yet, oldest first."""
    _council_only()
    return paginate(signoff.pending_for_member(caller()), args)


def _decision_target(sign_off_id: int) -> None:
    """A council member (403) and a sign-off of theirs (404) before the body is read."""
    _council_only()
    _sign_off_or_404(sign_off_id)


def _sign_off_or_404(sign_off_id: int) -> SignOff:
    so = history.sign_off_for_member(caller(), sign_off_id) if sign_off_id <= MAX_ID else None
    if so is None:
        abort(404, message="No such sign-off.")
    return so


@blp.route("/<int:sign_off_id>/decision", methods=["POST"])
@before_body(_decision_target)
@blp.doc(parameters=[IF_MATCH])
@blp.arguments(DecisionArgsSchema, as_kwargs=False)
@blp.response(200, DecisionResultSchema, headers={"ETag": {"description": "the case's new version",
                                                            "schema": {"type": "string"}}})
@_problem(403, "The caller is not a council member, or holds no seat for this case")
@_problem(404, "No such sign-off in the caller's council campaigns, or it is closed")
@_problem(409, "The quorum was reached but the transition is no longer possible")
@_problem(412, "If-Match names an old version of the case")
@_problem(422, "Invalid decision, a rejection without a comment, or already signed")
@_problem(428, "If-Match is missing")
def decide(args, sign_off_id: int):
    """Approve or reject (a rejection needs a comment); If-Match carries the CASE's ETag."""
    user = caller()
    so = _sign_off_or_404(sign_off_id)
    case = _case(so)
    version = required_version(case)
    stage_before = case.stage
    signoff.sign(case, user, args["decision"], now=utcnow(), comment=args.get("comment"),
                 expected_version=version)
    commit()
    body = {"sign_off": so, "stage": case.stage, "fired": case.stage != stage_before}
    return body, 200, {"ETag": f'"{etag_of(case)}"'}
