"""Scores of a case: read; write in the stage that owns them (the same workflow operations as the pages)."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint, abort
from marshmallow import fields

from models import CriteriaItem, Score
from workflow import scores as score_ops
from workflow.clock import utcnow
from workflow.errors import InvalidInput, NotFound
from workflow.scoring import case_totals
from workflow.txn import commit

from .auth import caller
from .common import IF_MATCH, before_body, case_or_404, etag_headers, etag_of, problem_doc, required_version

blp = Blueprint("api_scores", __name__, url_prefix="/api/v1/cases",
                description="Scores of a case: read; write in the stage that owns them")

POINTS = "points as a decimal string with two places, e.g. \"1.50\"; null when not given"


def _points(description: str = POINTS):
    return fields.String(allow_none=True, metadata={"description": description})


class PointsInput(fields.Field):
    """Points as sent: a number, or a string with a decimal point or comma ("0.5", "0,5"); null clears.

    The range and the two-decimal rule are the workflow's (workflow.scores.parse_points), answered as 422.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ma.ValidationError("must be a number or a decimal string")
        return value


def _points_input():
    return PointsInput(allow_none=True, metadata={
        "description": 'points, a number or a decimal string ("0.5" or "0,5"); null clears it',
        "oneOf": [{"type": "number"}, {"type": "string"}], "nullable": True})


class ScoreItemSchema(ma.Schema):
    code = fields.String(required=True)
    title_vi = fields.String()
    method = fields.String(metadata={"description": "self (self-assessed and appraised) or survey"})
    max_points = _points()
    not_applicable_allowed = fields.Boolean()
    self_score = _points()
    not_applicable = fields.Boolean()
    explanation = fields.String(allow_none=True)
    appraised_score = _points()
    appraiser_note = fields.String(allow_none=True)
    survey_score = _points()


class ScoreTotalsSchema(ma.Schema):
    total = _points("the points that count (appraised / survey), " + POINTS)
    own_max = _points("the maximum without not-applicable items, " + POINTS)
    self_total = _points("the commune's own scores, " + POINTS)
    percentage = fields.String(metadata={"description": "total as a percentage of own_max, e.g. \"87.25\""})


class CaseScoresSchema(ma.Schema):
    case_id = fields.Integer()
    stage = fields.String()
    version = fields.Integer()
    items = fields.List(fields.Nested(ScoreItemSchema))
    totals = fields.Nested(ScoreTotalsSchema)


class ScorePatchSchema(ma.Schema):
    """Either the self-assessment fields (commune officer, self_assessment) or the appraisal fields
    (secretariat, appraisal); only the fields sent change."""

    self_score = _points_input()
    not_applicable = fields.Boolean()
    explanation = fields.String(allow_none=True, validate=ma.validate.Length(max=10000))
    appraised_score = _points_input()
    appraiser_note = fields.String(allow_none=True, validate=ma.validate.Length(max=10000))


SELF_FIELDS = {"self_score": "score", "not_applicable": "not_applicable", "explanation": "explanation"}
APPRAISAL_FIELDS = {"appraised_score": "score", "appraiser_note": "note"}


def _problem(status: int, description: str):
    return problem_doc(blp, status, description)


def _text(value):
    return None if value is None else str(value)


def _row(item: CriteriaItem, score: Score | None) -> dict:
    return {"code": item.code, "title_vi": item.title_vi, "method": item.method,
            "max_points": _text(item.max_points), "not_applicable_allowed": bool(item.not_applicable_allowed),
            "self_score": _text(score.self_score) if score else None,
            "not_applicable": bool(score.not_applicable) if score else False,
            "explanation": score.explanation if score else None,
            "appraised_score": _text(score.appraised_score) if score else None,
            "appraiser_note": score.appraiser_note if score else None,
            "survey_score": _text(score.survey_score) if score else None}


def _leaf_or_404(case, code: str) -> CriteriaItem:
    """The sub-criterion ``code``: 404 when missing or an inner node (a missing resource, whatever the body)."""
    try:
        return score_ops.item_by_code(case, code)
    except (NotFound, InvalidInput):
        abort(404, message=f"{code}: no such sub-criterion in this campaign's criteria set.")


@blp.route("/<int(signed=True):case_id>/scores")
@blp.response(200, CaseScoresSchema, headers=etag_headers())
@_problem(404, "No such case, or not one the caller may see")
def list_scores(case_id: int):
    """Every sub-criterion of the case with its scores, and the totals (as the pages compute them)."""
    case = case_or_404(case_id)
    scores = score_ops.scores_by_item(case)
    totals = case_totals(case)
    body = {"case_id": case.id, "stage": case.stage, "version": case.version,
            "items": [_row(i, scores.get(i.id)) for i in case.campaign.criteria_set.leaves()],
            "totals": {"total": _text(totals.total), "own_max": _text(totals.own_max),
                       "self_total": _text(totals.self_total), "percentage": _text(totals.percentage)}}
    return body, 200, {"ETag": f'"{etag_of(case)}"'}


def _score_target(case_id: int, code: str) -> None:
    """The case and the sub-criterion (404) before the body is read."""
    _leaf_or_404(case_or_404(case_id), code)


@blp.route("/<int(signed=True):case_id>/scores/<code>", methods=["PATCH"])
@before_body(_score_target)
@blp.doc(parameters=[IF_MATCH])
@blp.arguments(ScorePatchSchema, as_kwargs=False)
@blp.response(200, ScoreItemSchema, headers=etag_headers())
@_problem(403, "The caller's role, or the case's stage, does not own these fields")
@_problem(404, "No such case or sub-criterion, or not a case the caller may see")
@_problem(412, "If-Match names an old version of the case")
@_problem(422, "A bad value (the problem's errors name the field), or fields of both stages at once")
@_problem(428, "If-Match is missing")
def patch_score(args, case_id: int, code: str):
    """Change one sub-criterion's self-assessment fields or its appraisal fields (If-Match required)."""
    case = case_or_404(case_id)
    item = _leaf_or_404(case, code)  # a missing resource is 404 whatever the preconditions
    version = required_version(case)
    own = {name for name in args if name in SELF_FIELDS}
    appraisal = {name for name in args if name in APPRAISAL_FIELDS}
    if own and appraisal:
        abort(422, message="Send either the self-assessment fields or the appraisal fields, not both.",
              errors={name: ["belongs to the appraisal stage"] for name in sorted(appraisal)})
    if not own and not appraisal:
        abort(422, message="Nothing to change: send at least one field.")
    user, now = caller(), utcnow()
    score_field = "self_score" if own else "appraised_score"
    try:
        if own:
            score_ops.set_self_assessment(case, code, user, now=now, expected_version=version,
                                          **{SELF_FIELDS[name]: args[name] for name in own})
        else:
            score_ops.set_appraisal(case, code, user, now=now, expected_version=version,
                                    **{APPRAISAL_FIELDS[name]: args[name] for name in appraisal})
    except InvalidInput as exc:  # the workflow names the value "score"; the API names it by its body field
        errors = {score_field if name == "score" else name: messages for name, messages in exc.errors.items()}
        if not errors and "not applicable" in exc.message and "not_applicable" in args:
            errors = {"not_applicable": ["not allowed on this sub-criterion"]}
        raise InvalidInput(exc.message, errors) from None
    commit()
    return _row(item, score_ops.scores_by_item(case).get(item.id)), 200, {"ETag": f'"{etag_of(case)}"'}
