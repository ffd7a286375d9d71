"""Guards named in the chart, each returning the list of what blocks a transition (empty = ready)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from models import Case, CriteriaItem, Evidence, Score, db

from .errors import Blocker


def _leaves(case: Case) -> list[CriteriaItem]:
    return db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == case.campaign.criteria_set_id, CriteriaItem.method.is_not(None)
    ).order_by(CriteriaItem.position)).all()


def _scores(case: Case) -> dict[int, Score]:
    return {s.item_id: s for s in db.session.scalars(select(Score).where(Score.case_id == case.id))}


def _items_with_evidence(case: Case) -> set[int]:
    return set(db.session.scalars(select(Evidence.item_id).where(
        Evidence.case_id == case.id, Evidence.removed_at.is_(None)).distinct()))


def self_assessment_complete(case: Case) -> list[Blocker]:
    scores, with_evidence = _scores(case), _items_with_evidence(case)
    blockers = []
    for item in _leaves(case):
        if item.method != "self":
            continue
        s = scores.get(item.id)
        if s is not None and s.not_applicable:
            continue
        if s is None or s.self_score is None:
            blockers.append(Blocker(item.code, "no score"))
            continue
        if not 0 <= s.self_score <= item.max_points:
            blockers.append(Blocker(item.code, f"score {s.self_score} outside 0..{item.max_points}"))
        if item.evidence_required and item.id not in with_evidence and not (s.explanation or "").strip():
            blockers.append(Blocker(item.code, "evidence required"))
    return blockers


def appraisal_complete(case: Case) -> list[Blocker]:
    scores = _scores(case)
    blockers = []
    for item in _leaves(case):
        if item.method != "self":
            continue
        s = scores.get(item.id)
        if s is not None and s.not_applicable:
            continue
        if s is None or s.appraised_score is None:
            blockers.append(Blocker(item.code, "not appraised"))
    return blockers


def survey_points_recorded(case: Case) -> list[Blocker]:
    scores = _scores(case)
    blockers = []
    for item in _leaves(case):
        if item.method != "survey":
            continue
        s = scores.get(item.id)
        if s is not None and s.not_applicable:
            continue
        if s is None or s.survey_score is None:
            blockers.append(Blocker(item.code, "no survey points"))
    return blockers


GUARDS: dict[str, Callable[[Case], list[Blocker]]] = {
    "self_assessment_complete": self_assessment_complete,
    "appraisal_complete": appraisal_complete,
    "survey_points_recorded": survey_points_recorded,
}
