"""Deadlines of a case and a campaign's reminder schedule (workflow.reminders.schedule)."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint, abort
from marshmallow import fields

from workflow import access, deadlines, queries, reminders
from workflow.clock import utcnow

from .auth import caller
from .common import case_or_404, paginate, problem_doc
from .schemas import PageArgsSchema

blp = Blueprint("api_deadlines", __name__, url_prefix="/api/v1",
                description="Deadlines of a case and a campaign's reminder schedule")


def _problem(status: int, description: str):
    return problem_doc(blp, status, description)


class CaseDeadlineSchema(ma.Schema):
    id = fields.Integer(required=True)
    stage = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "stage, or revision"})
    round = fields.Integer(metadata={"description": "revision round; 0 for the stage deadline"})
    plan_due = fields.Date(required=True, metadata={"description": "the due day the plan names"})
    due = fields.Date(required=True, metadata={"description": "the plan's day rolled to a working day"})
    explanation = fields.String(required=True, metadata={"description": "why due differs from plan_due, if it does"})
    completed = fields.Function(lambda d: d.completed_at is not None, metadata={"description": "stage left"})
    completed_at = fields.DateTime(allow_none=True)


class CaseDeadlinesSchema(ma.Schema):
    case_id = fields.Integer(required=True)
    items = fields.List(fields.Nested(CaseDeadlineSchema), required=True)


class NoticeSchema(ma.Schema):
    """The same keys as `flask deadlines schedule --json`."""

    date = fields.String(required=True, metadata={"format": "date",
                                                  "description": "the local day the notice goes out (08:00)"})
    due = fields.String(required=True, metadata={"format": "date"})
    commune_code = fields.String(required=True)
    stage = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "reminder, overdue or escalation"})
    level = fields.Integer(required=True)
    recipients = fields.List(fields.String(), required=True, metadata={"description": "e-mail addresses"})
    planned = fields.Boolean(required=True, metadata={
        "description": "a stage the case has not reached yet, planned from the plan's due: sent only if the case "
                       "is in that stage by then (false: an open deadline's notice)"})


SchedulePageSchema = type("SchedulePageSchema", (ma.Schema,), {
    "items": fields.List(fields.Nested(NoticeSchema), required=True),
    "page": fields.Integer(required=True), "per_page": fields.Integer(required=True),
    "total": fields.Integer(required=True)})


@blp.route("/cases/<int:case_id>/deadlines")
@blp.response(200, CaseDeadlinesSchema)
@_problem(404, "No such case, or not one the caller may see")
def case_deadlines(case_id: int):
    """Every deadline the case has had (open and completed), by stage order of creation."""
    case = case_or_404(case_id)
    return {"case_id": case.id, "items": deadlines.of_case(case)}


@blp.route("/campaigns/<key>/schedule")
@blp.arguments(PageArgsSchema, location="query", as_kwargs=False)
@blp.response(200, SchedulePageSchema)
@_problem(403, "Only campaign-wide readers (secretariat, leader, auditor, admin) see the schedule")
@_problem(404, "No such campaign, or none the caller may see")
def campaign_schedule(args, key: str):
    """Every notice the campaign will still send if nothing is completed early, soonest first."""
    user = caller()
    campaign = next((c for c in queries.campaigns_visible_to(user) if c.key == key), None)
    if campaign is None:
        abort(404, message="No such campaign.")
    if not user.has_role(*access.CAMPAIGN_WIDE_READERS):
        abort(403, message="Only campaign-wide readers see the reminder schedule.")
    return paginate([n.as_json() for n in reminders.schedule(campaign, now=utcnow())], args)
