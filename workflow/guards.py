"""Guards named in the chart, each returning the list of what blocks a transition (empty = ready)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

from sqlalchemy import and_, bindparam, exists, func, or_, select

from models import Case, CriteriaItem, Evidence, Score, db

from . import txn
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
    return txn.connection().execute(_statement(method, column),
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


# --- many cases at once (the reminder sweep) ------------------------------------------------------
# The same rule as the guards above, read for a whole batch of cases in a few statements that return
# (nearly) nothing for the common cases: no score row at all (every leaf blocks) or every leaf settled.

_BATCHED = {  # guard -> (criteria method, score column, the reason of a leaf with no value)
    "self_assessment_complete": ("self", "self_score", "no score"),
    "appraisal_complete": ("self", "appraised_score", "not appraised"),
    "survey_points_recorded": ("survey", "survey_score", "no survey points"),
}
_CHUNK = 1000  # case ids per IN list


@cache
def _leaves_statement():
    return (select(CriteriaItem.id, CriteriaItem.code)
            .where(CriteriaItem.criteria_set_id == bindparam("set_id"), CriteriaItem.method == bindparam("method"))
            .order_by(CriteriaItem.position, CriteriaItem.id))


def _settled_where(column: str) -> tuple:
    """Score rows of the batch's leaves that do not block for want of a value: a value, or not applicable."""
    value = getattr(Score, column)
    return (Score.case_id.in_(bindparam("case_ids", expanding=True)),
            CriteriaItem.criteria_set_id == bindparam("set_id"), CriteriaItem.method == bindparam("method"),
            or_(value.is_not(None), Score.not_applicable.is_(True)))


@cache
def _count_statement(column: str):
    return (select(Score.case_id, func.count()).join(CriteriaItem, CriteriaItem.id == Score.item_id)
            .where(*_settled_where(column)).group_by(Score.case_id))


@cache
def _settled_statement(column: str):
    return (select(Score.case_id, Score.item_id).join(CriteriaItem, CriteriaItem.id == Score.item_id)
            .where(*_settled_where(column)))


@cache
def _self_blocking_statement():
    """Self scores with a value that still block: out of range, or evidence required and no live file."""
    value = Score.self_score
    has_evidence = exists().where(Evidence.case_id == Score.case_id, Evidence.item_id == Score.item_id,
                                  Evidence.removed_at.is_(None))
    return (
        select(Score.case_id, Score.item_id, CriteriaItem.max_points, CriteriaItem.evidence_required, value,
               Score.explanation, has_evidence.label("has_evidence"))
        .select_from(Score).join(CriteriaItem, CriteriaItem.id == Score.item_id)
        .where(Score.case_id.in_(bindparam("case_ids", expanding=True)),
               CriteriaItem.criteria_set_id == bindparam("set_id"), CriteriaItem.method == "self",
               Score.not_applicable.is_not(True), value.is_not(None),
               or_(value < 0, value > CriteriaItem.max_points,
                   and_(CriteriaItem.evidence_required.is_(True), ~has_evidence)))
    )


def _self_value_blockers(code, max_points, evidence_required, score, explanation, has_evidence) -> list[Blocker]:
    """``self_assessment_complete``'s verdict on one leaf that has a self score."""
    out = []
    if not 0 <= score <= max_points:
        out.append(Blocker(code, f"score {score} outside 0..{max_points}"))
    if evidence_required and not has_evidence and not (explanation or "").strip():
        out.append(Blocker(code, "evidence required"))
    return out


def blockers_many(name: str, cases: Sequence[Case]) -> dict[int, tuple[Blocker, ...]]:
    """``GUARDS[name](case)`` for every case, by case id: the same blockers in the same order, as tuples.

    Cases with the same blockers because none of their leaves is settled share one tuple.

    Per criteria set and chunk of cases: the leaves once, how many leaves of each case are settled
    (cases with none or all settled need nothing more), which are settled for the cases in between,
    and for the self-assessment the few scored leaves that still block (range, evidence).
    """
    method, column, reason = _BATCHED[name]
    by_set: dict[int, list[int]] = {}
    for case in cases:
        by_set.setdefault(case.campaign.criteria_set_id, []).append(case.id)
    out: dict[int, tuple[Blocker, ...]] = {}
    for set_id, ids in by_set.items():
        leaves = db.session.execute(_leaves_statement(), {"set_id": set_id, "method": method}).all()
        codes = {item_id: code for item_id, code in leaves}
        for chunk in txn.in_chunks(ids, _CHUNK):
            params = {"case_ids": chunk, "set_id": set_id, "method": method}
            counts = dict(db.session.execute(_count_statement(column), params).all())
            partial = [c for c, n in counts.items() if n < len(leaves)]
            settled: dict[int, set[int]] = {}
            if partial:
                for case_id, item_id in db.session.execute(_settled_statement(column), {**params, "case_ids": partial}):
                    settled.setdefault(case_id, set()).add(item_id)
            valued: dict[int, dict[int, list[Blocker]]] = {}
            if column == "self_score" and counts:
                for case_id, item_id, *row in db.session.execute(
                        _self_blocking_statement(), {"case_ids": list(counts), "set_id": set_id}):
                    valued.setdefault(case_id, {})[item_id] = _self_value_blockers(codes[item_id], *row)
            unsettled = tuple(Blocker(code, reason) for _, code in leaves)  # a case with no settled leaf
            for case_id in chunk:
                n = counts.get(case_id, 0)
                if n == 0:
                    out[case_id] = unsettled
                    continue
                done, flagged = settled.get(case_id), valued.get(case_id, {})
                if n >= len(leaves) and not flagged:
                    out[case_id] = ()
                    continue
                blockers = []
                for item_id, code in leaves:
                    if done is not None and item_id not in done:
                        blockers.append(Blocker(code, reason))
                    elif item_id in flagged:
                        blockers.extend(flagged[item_id])
                out[case_id] = tuple(blockers)
    return out
