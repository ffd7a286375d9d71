"""Cases: list and read (scoped exactly as the pages), readiness, and firing transitions with If-Match."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_smorest import Blueprint, abort

from states import TRANSITIONS
from workflow import access, board, cases, queries
from workflow.clock import utcnow
from workflow.txn import commit

from .auth import caller
from .common import (
    IF_MATCH,
    before_body,
    case_or_404,
    etag_headers,
    etag_of,
    problem_doc,
    required_version,
    visible_campaign_or_404,
)
from .schemas import (
    CaseListArgsSchema,
    CasePageSchema,
    CaseSchema,
    FireResultSchema,
    ReadinessSchema,
    TransitionArgsSchema,
)

blp = Blueprint("api_cases", __name__, url_prefix="/api/v1/cases",
                description="Cases: one commune in one campaign, moving through the stages")


def _problem(status: int, description: str):
    return problem_doc(blp, status, description)


@blp.route("")
@blp.arguments(CaseListArgsSchema, location="query", as_kwargs=False)
@blp.response(200, CasePageSchema)
@_problem(404, "No such campaign, or none the caller may see")
def list_cases(args):
    """The cases the caller may see, by campaign (newest year first, then key), then commune code.

    Set-based (the board's table queries): per campaign one count and, where the page falls, one page of ids."""
    user, now = caller(), utcnow()
    if args.get("campaign"):
        campaigns = [visible_campaign_or_404(args["campaign"])]
    else:
        campaigns = queries.campaigns_visible_to(user)
    offset, per_page = (args["page"] - 1) * args["per_page"], args["per_page"]
    total, window = 0, []  # window: (campaign, today, case ids) of the page, in order
    for campaign in campaigns:
        today = board.today_for(campaign, now)
        flt = board.BoardFilter(today=today, stage=args.get("stage"), overdue=args.get("overdue") is True,
                                on_time=args.get("overdue") is False, commune=args.get("commune"),
                                scope_commune_id=access.commune_scope(user, campaign.id))
        count, ids = board.table_window(campaign, flt, offset=max(0, offset - total),
                                        limit=per_page - sum(len(w[2]) for w in window))
        total += count
        if ids:
            window.append((campaign, today, ids))
    items = []
    for campaign, today, ids in window:
        items += _views(campaign, today, ids)
    return {"items": items, "page": args["page"], "per_page": per_page, "total": total}


def _views(campaign, today, ids: list[int]) -> list:
    """The page's cases with their binding deadlines: a bounded number of queries, one calendar."""
    found = board.cases_by_id(ids)
    bound = board.binding_deadline_rows(ids)
    days = board.DaysLeft(campaign, today)
    out = []
    for case_id in ids:
        deadline = None
        if case_id in bound:
            due, kind, plan_due = bound[case_id]
            deadline = ListedDeadline(due=due, plan_due=plan_due, kind=kind, working_days_left=days(due),
                                      late=today > due)
        out.append(CaseView(found[case_id], deadline))
    return out


@dataclass(frozen=True)
class ListedDeadline:
    """A case's binding deadline as the list shows it (DeadlineSchema's fields)."""

    due: dt.date
    plan_due: dt.date
    kind: str
    working_days_left: int
    late: bool


def _view(case, now):
    return CaseView(case, queries.deadline_view(case, now))


class CaseView:
    """A case plus its binding deadline, for CaseSchema."""

    def __init__(self, case, deadline):
        self._case, self.deadline = case, deadline

    def __getattr__(self, name):
        return getattr(self._case, name)


@blp.route("/<int:case_id>")
@blp.response(200, CaseSchema, headers=etag_headers())
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


def _fire_target(case_id: int, name: str) -> None:
    """The case (404), the transition (404) and the caller's role and commune scope for it (403), before
    the body is read; ``cases.fire`` checks the role again, as it does for every caller."""
    case = case_or_404(case_id)
    spec = TRANSITIONS.get(name)
    if spec is None:
        abort(404, message=f"No transition named '{name}'.")
    access.require_fire(caller(), case, spec)


@blp.route("/<int:case_id>/transitions/<name>", methods=["POST"])
@before_body(_fire_target)
@blp.doc(parameters=[IF_MATCH])
@blp.arguments(TransitionArgsSchema, as_kwargs=False)
@blp.response(200, FireResultSchema, headers=etag_headers())
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
