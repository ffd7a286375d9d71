"""Score edits, each allowed only in the stage that owns it and each an audit event."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from models import Case, CriteriaItem, Score, User, db, to_points
from states import Role, Stage

from . import access, audit, events
from .errors import InvalidInput, NotFound, NotPermitted
from .txn import check_version, flush, guarded, touch

UNSET = object()

# survey points may be entered while the survey runs, before the council meets
SURVEY_STAGES = {Stage.planning, Stage.self_assessment, Stage.appraisal, Stage.survey}


def scores_by_item(case: Case) -> dict[int, Score]:
    """The case's score rows, by criteria item id (one query)."""
    return {s.item_id: s for s in db.session.scalars(select(Score).where(Score.case_id == case.id))}


def item_by_code(case: Case, code: str) -> CriteriaItem:
    item = db.session.scalar(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == case.campaign.criteria_set_id, CriteriaItem.code == code))
    if item is None:
        raise NotFound(f"{code}: no such sub-criterion in this campaign's criteria set")
    if not item.is_leaf:
        raise InvalidInput(f"{code}: is not a sub-criterion (scores go on sub-criteria)")
    return item


def parse_points(value, item: CriteriaItem, field: str = "score") -> Decimal | None:
    """A score within 0..max with at most two decimals; accepts '0,5' as well as '0.5'."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise InvalidInput(f"{item.code}: '{value}' is not a number", {field: ["not a number"]}) from None
    if not number.is_finite():
        raise InvalidInput(f"{item.code}: '{value}' is not a number", {field: ["not a number"]})
    if number != number.quantize(Decimal("0.01")):
        raise InvalidInput(f"{item.code}: at most two decimals", {field: ["at most two decimals"]})
    if number < 0 or number > item.max_points:
        raise InvalidInput(f"{item.code}: {number} is outside 0..{item.max_points}",
                           {field: [f"must be between 0 and {item.max_points}"]})
    return to_points(number)


def _score_row(case: Case, item: CriteriaItem) -> Score:
    row = db.session.scalar(select(Score).where(Score.case_id == case.id, Score.item_id == item.id))
    if row is None:
        row = Score(case_id=case.id, item_id=item.id, not_applicable=False)
        db.session.add(row)
    return row


def _apply(case: Case, item: CriteriaItem, actor: User | None, now: dt.datetime,
           changes: dict[str, object]) -> dict[str, tuple]:
    row = _score_row(case, item)
    diff = {}
    for name, value in changes.items():
        if value is UNSET:
            continue
        old = getattr(row, name)
        if isinstance(value, str):
            value = value.strip() or None
        if old != value:
            diff[name] = (old, value)
            setattr(row, name, value)
    if diff:
        row.updated_at = now
        row.updated_by_id = actor.id if actor else None
        touch(case, now)
        audit.record("score.changed", actor=actor, now=now, case=case, subject=item.code,
                     before={k: v[0] for k, v in diff.items()}, after={k: v[1] for k, v in diff.items()})
        events.publish(events.ScoreChanged(case.id, now, item.code, tuple(sorted(diff))))
    return diff


@guarded()
def set_self_assessment(case: Case, code: str, actor: User, *, now: dt.datetime, score=UNSET,
                        not_applicable=UNSET, explanation=UNSET,
                        expected_version: int | None = None) -> dict[str, tuple]:
    """The commune's own score, not-applicable flag and explanation for one sub-criterion."""
    check_version(case, expected_version)
    access.require_self_scorer(actor, case)
    if case.stage_enum != Stage.self_assessment:
        raise NotPermitted(f"Self scores can only be changed in self-assessment (the case is in "
                           f"{case.stage}).")
    item = item_by_code(case, code)
    if item.method != "self":
        raise InvalidInput(f"{code}: is filled from the survey, not self-assessed")
    changes: dict[str, object] = {"explanation": explanation}
    if score is not UNSET:
        changes["self_score"] = parse_points(score, item)
    if not_applicable is not UNSET:
        if not_applicable and not item.not_applicable_allowed:
            raise InvalidInput(f"{code}: may not be marked not applicable")
        changes["not_applicable"] = bool(not_applicable)
    diff = _apply(case, item, actor, now, changes)
    flush()
    return diff


@guarded()
def set_appraisal(case: Case, code: str, actor: User, *, now: dt.datetime, score=UNSET, note=UNSET,
                  expected_version: int | None = None) -> dict[str, tuple]:
    """The appraised score and appraiser's note for one sub-criterion (appraisal stage only)."""
    check_version(case, expected_version)
    access.require_secretariat(actor)
    if case.stage_enum != Stage.appraisal:
        raise NotPermitted(f"Appraised scores can only be changed in appraisal (the case is in {case.stage}).")
    item = item_by_code(case, code)
    if item.method != "self":
        raise InvalidInput(f"{code}: is filled from the survey, not appraised")
    changes: dict[str, object] = {"appraiser_note": note}
    if score is not UNSET:
        changes["appraised_score"] = parse_points(score, item)
    diff = _apply(case, item, actor, now, changes)
    flush()
    return diff


@guarded()
def set_survey_points(case: Case, code: str, actor: User | None, *, now: dt.datetime, points,
                      expected_version: int | None = None) -> dict[str, tuple]:
    """Survey points of a survey-method sub-criterion (while the survey runs)."""
    check_version(case, expected_version)
    if actor is not None and not actor.has_role(Role.secretariat, Role.secretariat_head, Role.admin):
        raise NotPermitted("Only the secretariat may record survey points.")
    if case.stage_enum not in SURVEY_STAGES:
        raise NotPermitted(f"Survey points can no longer be changed (the case is in {case.stage}).")
    item = item_by_code(case, code)
    if item.method != "survey":
        raise InvalidInput(f"{code}: is not a survey sub-criterion")
    diff = _apply(case, item, actor, now, {"survey_score": parse_points(points, item)})
    flush()
    return diff
