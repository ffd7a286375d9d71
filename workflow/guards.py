"""Guards named in the chart, each returning the list of what blocks a transition (empty = ready)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sqlalchemy import and_, bindparam, exists, or_, select

from models import Case, CriteriaItem, Evidence, Score, db

from .errors import Blocker

# One statement per guard, built once and bound per case: it returns only the leaves that may block
# (no value, out of range, or evidence required and no live file), so a ready case reads no rows at all.
# The final word (e.g. a blank explanation) stays in Python below, exactly as the rule is written.


@cache
def _statement(method: str, column: str):
    value = getattr(Score, column)
    has_evidence = exists().where(Evidence.case_id == bindparam("case_id"), Evidence.item_id == CriteriaItem.id,
                                  Evidence.removed_at.is_(None))
    may_block = value.is_(None)
    if column == "self_score":
        may_block = or_(may_block, value < 0, value > CriteriaItem.max_points,
                        and_(CriteriaItem.evidence_required.is_(True), ~has_evidence))
    return (
        select(CriteriaItem.code, CriteriaItem.max_points, CriteriaItem.evidence_required, value,
               Score.explanation, has_evidence.label("has_evidence"))
        .select_from(CriteriaItem)
        .outerjoin(Score, and_(Score.item_id == CriteriaItem.id, Score.case_id == bindparam("case_id")))
        .where(CriteriaItem.criteria_set_id == bindparam("set_id"), CriteriaItem.method == method,
               Score.not_applicable.is_not(True), may_block)
        .order_by(CriteriaItem.position)
    )


def _may_block(case: Case, method: str, column: str):
    return db.session.execute(_statement(method, column),
                              {"case_id": case.id, "set_id": case.campaign.criteria_set_id}).all()


def self_assessment_complete(case: Case) -> list[Blocker]:
    blockers = []
    for code, max_points, evidence_required, score, explanation, has_evidence in \
            _may_block(case, "self", "self_score"):
        if score is None:
            blockers.append(Blocker(code, "no score"))
            continue
        if not 0 <= score <= max_points:
            blockers.append(Blocker(code, f"score {score} outside 0..{max_points}"))
        if evidence_required and not has_evidence and not (explanation or "").strip():
            blockers.append(Blocker(code, "evidence required"))
    return blockers


def appraisal_complete(case: Case) -> list[Blocker]:
    return [Blocker(row.code, "not appraised") for row in _may_block(case, "self", "appraised_score")]


def survey_points_recorded(case: Case) -> list[Blocker]:
    return [Blocker(row.code, "no survey points") for row in _may_block(case, "survey", "survey_score")]


GUARDS: dict[str, Callable[[Case], list[Blocker]]] = {
    "self_assessment_complete": self_assessment_complete,
    "appraisal_complete": appraisal_complete,
    "survey_points_recorded": survey_points_recorded,
}
