"""Cases: list and read (scoped exactly as the pages), readiness, and firing transitions with If-Match."""

from __future__ import annotations

from flask_smorest import Blueprint, abort

from states import TRANSITIONS
from workflow import cases, queries
from workflow.clock import utcnow
from workflow.txn import commit

from .auth import caller
from .common import case_or_404, etag_of, paginate, required_version
from .problems import MEDIA_TYPE
from .schemas import (
    CaseListArgsSchema,
    CasePageSchema,
    CaseSchema,
    FireResultSchema,
    ProblemSchema,
    ReadinessSchema,
    TransitionArgsSchema,
)

blp = Blueprint("api_cases", __name__, url_prefix="/api/v1/cases",
                description="Cases: one commune in one campaign, moving through the stages")


def _problem(status: int, description: str):
    return blp.alt_response(status, schema=ProblemSchema, description=description, content_type=MEDIA_TYPE)


def _etag_headers() -> dict:
    return {"ETag": {"description": 'the case version, e.g. "v3"; send it back in If-Match to change the case',
                     "schema": {"type": "string"}}}


@blp.route("")
@blp.arguments(CaseListArgsSchema, location="query", as_kwargs=False)
@blp.response(200, CasePageSchema)
def list_cases(args):
    """The cases the caller may see, by campaign (newest year first, then key), then commune code."""
    user, now = caller(), utcnow()
    rows = []
    for campaign in queries.campaigns_visible_to(user):
        if args.get("campaign") and campaign.key != args["campaign"]:
            continue
        for case in queries.cases_visible_to(user, campaign):
            if args.get("stage") and case.stage != args["stage"]:
                continue
            if args.get("commune") and case.commune.code != args["commune"]:
                continue
            rows.append(case)
    if "overdue" in args:
        rows = [c for c in rows if _late(c, now) == args["overdue"]]
    result = paginate(rows, args)
    result["items"] = [_view(c, now) for c in result["items"]]
    return result


def _late(case, now) -> bool:
    view = queries.deadline_view(case, now)
    return view is not None and view.late


def _view(case, now):
    return CaseView(case, queries.deadline_view(case, now))


class CaseView:
    """A case plus its binding deadline, for CaseSchema."""

    def __init__(self, case, deadline):
        self._case, self.deadline = case, deadline

    def __getattr__(self, name):
        return getattr(self._case, name)


@blp.route("/<int:case_id>")
@blp.response(200, CaseSchema, headers=_etag_headers())
@_problem(404, "No such case, or not one the caller may see")
def get_case(case_id: int):
    """One case; its ETag is its version."""
    case = case_or_404(case_id)
    return _view(case, utcnow()), 200, {"ETag": f'"{etag_of(case)}"'}


@blp.route("/<int:case_id>/readiness")
@blp.response(200, ReadinessSchema)
@_problem(404, "No such case, or not one the caller may see")
def readiness(case_id: int):
    """Every transition from the case's current stage, with what blocks it for the caller."""
    case, user = case_or_404(case_id), caller()
    transitions = []
    for spec in TRANSITIONS.values():
        if spec.source != case.stage_enum:
            continue
        blockers = cases.readiness(case, spec.name, user)
        transitions.append({"name": spec.name, "ready": not blockers,
                            "blockers": [{"code": b.code, "reason": b.reason} for b in blockers]})
    return {"case_id": case.id, "stage": case.stage, "version": case.version, "transitions": transitions}


IF_MATCH = {"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"},
            "description": 'the ETag of the case as last read, e.g. "v3" (missing: 428, stale: 412)'}


@blp.route("/<int:case_id>/transitions/<name>", methods=["POST"])
@blp.doc(parameters=[IF_MATCH])
@blp.arguments(TransitionArgsSchema, as_kwargs=False)
@blp.response(200, FireResultSchema, headers=_etag_headers())
@_problem(403, "The caller's role may not fire this transition on this case")
@_problem(404, "No such case or transition, or not a case the caller may see")
@_problem(409, "Refused: the problem lists every blocker")
@_problem(412, "If-Match names an old version of the case")
@_problem(428, "If-Match is missing")
def fire(args, case_id: int, name: str):
    """Fire a transition (If-Match required); a plan's sign-off rule may open a council sign-off instead."""
    case = case_or_404(case_id)
    if name not in TRANSITIONS:
        abort(404, message=f"No transition named '{name}'.")
    version = required_version(case)
    now = utcnow()
    result = cases.fire(case, name, caller(), now=now, expected_version=version,
                        reason=args.get("reason"), revision_due=args.get("revision_due"))
    commit()
    body = {"fired": result.fired, "source": result.source, "dest": result.dest,
            "sign_off_id": result.sign_off.id if result.sign_off is not None else None,
            "case": _view(result.case, now)}
    return body, 200, {"ETag": f'"{etag_of(result.case)}"'}
