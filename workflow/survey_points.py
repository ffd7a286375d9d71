"""Converting survey answers into points: exact arithmetic, one half-up rounding, through scores.set_survey_points.

For one commune and one survey-method sub-criterion: the weight of each valid answer (A-D) is averaged over
the forms that answered validly (blank and invalid answers are left out); where the campaign weights its
respondent groups, each group is averaged first and the group means are combined by their weights (over the
groups that have valid answers). The mean times the item's maximum is the points, computed with fractions
and rounded once, at the end, half up to two decimals. docs/survey.md has a worked example.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from math import floor

from sqlalchemy import func, select

from models import Campaign, Score, SurveyAnswer, SurveyForm, User, db

from . import audit, scores
from .errors import InvalidInput, NotFound
from .survey import (
    Weights,
    cases_by_code,
    check_case_open,
    groups_of,
    require_writer,
    survey_items,
    weights_of,
)
from .txn import flush


def round_points(value: Fraction) -> Decimal:
    """Exact half-up rounding to two decimals (0.125 -> 0.13), for non-negative values."""
    hundredths = floor(value * 100 + Fraction(1, 2))
    return (Decimal(hundredths) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ItemResult:
    """One sub-criterion of one commune: the points (None without valid answers) and how they were reached."""

    code: str
    max_points: Decimal
    points: Decimal | None
    valid: int
    blank: int
    invalid: int
    group_means: dict[str, Fraction]


def compute(campaign: Campaign, weights: Weights | None = None) -> dict[int, dict[str, ItemResult]]:
    """Points per commune id and survey sub-criterion from the stored answers (reads only)."""
    weights = weights or weights_of(campaign)
    items = survey_items(campaign)
    option_weight = {k: Fraction(v) / 100 for k, v in weights.options.items()}
    # (commune, code) -> group -> [sum of weights, valid count]; (commune, code) -> state counts
    sums: dict[tuple[int, str], dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [Fraction(0), 0]))
    states: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: {"valid": 0, "blank": 0, "invalid": 0})
    for commune_id, grp, code, option, state, n in db.session.execute(
            select(SurveyForm.commune_id, SurveyForm.group, SurveyAnswer.code, SurveyAnswer.option,
                   SurveyAnswer.state, func.count(SurveyAnswer.id))
            .join(SurveyAnswer, SurveyAnswer.form_id == SurveyForm.id)
            .where(SurveyForm.campaign_id == campaign.id)
            .group_by(SurveyForm.commune_id, SurveyForm.group, SurveyAnswer.code, SurveyAnswer.option,
                      SurveyAnswer.state)):
        states[(commune_id, code)][state] += n
        if state == "valid":
            acc = sums[(commune_id, code)][grp]
            acc[0] += option_weight[option] * n
            acc[1] += n
    out: dict[int, dict[str, ItemResult]] = defaultdict(dict)
    for commune_id in {c for c, _ in states}:
        for item in items:
            per_group = {grp: (s, n) for grp, (s, n) in sums.get((commune_id, item.code), {}).items() if n}
            mean = combine(per_group, weights.groups)
            counts = states.get((commune_id, item.code), {"valid": 0, "blank": 0, "invalid": 0})
            points = round_points(mean * Fraction(item.max_points)) if mean is not None else None
            out[commune_id][item.code] = ItemResult(item.code, item.max_points, points, counts["valid"],
                                                    counts["blank"], counts["invalid"],
                                                    {g: s / n for g, (s, n) in per_group.items()})
    return out


def combine(per_group: dict[str, tuple[Fraction, int]], group_weights: dict[str, Decimal] | None) -> Fraction | None:
    """The mean weight from (sum of weights, valid answers) per group; None without valid answers.

    Without group weights every valid answer counts alike (sum over all / count over all); with them each
    group's own mean counts by its weight, over the groups that have valid answers.
    """
    if not per_group:
        return None
    if group_weights is None:
        return sum(s for s, _ in per_group.values()) / sum(n for _, n in per_group.values())
    weighted = {g: Fraction(group_weights.get(g, 0)) for g in per_group}
    total = sum(weighted.values())
    if total == 0:
        return None
    return sum(weighted[g] * s / n for g, (s, n) in per_group.items()) / total


@dataclass
class ConversionReport:
    """What a conversion recorded: per commune the points set, unchanged, missing, or why it was skipped."""

    changed: int = 0
    unchanged: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)  # (commune code, item code): no valid answers
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (commune code, reason)
    points: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # commune code -> code -> points

    def summary(self) -> str:
        text = (f"survey points: {self.changed} set, {self.unchanged} unchanged, "
                f"{len(self.missing)} without valid answers, {len(self.skipped)} communes skipped")
        return text

    def as_json(self) -> dict:
        return {"changed": self.changed, "unchanged": self.unchanged,
                "missing": [{"commune_code": c, "code": i} for c, i in self.missing],
                "skipped": [{"commune_code": c, "reason": r} for c, r in self.skipped],
                "points": {c: {k: f"{v:.2f}" for k, v in p.items()} for c, p in self.points.items()}}


def convert(campaign: Campaign, *, actor: User | None, now: dt.datetime,
            commune_codes: list[str] | None = None) -> ConversionReport:
    """Turn the stored answers into survey points on every open case (via scores.set_survey_points); audited.

    A sub-criterion without any valid answer for a commune gets no points (the case stays blocked and the
    report lists it); a sub-criterion the commune marked not applicable is left alone.
    """
    require_writer(actor)
    weights = weights_of(campaign)
    if weights.groups is not None and set(weights.groups) != {g.code for g in groups_of(campaign)}:
        # the plan was reloaded with other groups since the weights were set
        raise InvalidInput("the group weights no longer match the plan's respondent groups; set them again",
                           {"groups": ["do not match the plan's groups"]})
    results = compute(campaign, weights)
    items = survey_items(campaign)
    report = ConversionReport()
    by_code = cases_by_code(campaign)
    if commune_codes is not None:
        unknown = [c for c in commune_codes if c not in by_code]
        if unknown:
            raise NotFound(f"no commune {', '.join(unknown)} in campaign {campaign.key}")
        by_code = {c: by_code[c] for c in commune_codes}
    for code, case in by_code.items():
        why = check_case_open(case)
        if why:
            report.skipped.append((code, why))
            continue
        not_applicable = {s.item_id for s in db.session.scalars(
            select(Score).where(Score.case_id == case.id, Score.not_applicable.is_(True)))}
        mine = results.get(case.commune_id, {})
        for item in items:
            if item.id in not_applicable:
                continue
            result = mine.get(item.code)
            if result is None or result.points is None:
                report.missing.append((code, item.code))
                continue
            diff = scores.set_survey_points(case, item.code, actor, now=now, points=result.points)
            report.points.setdefault(code, {})[item.code] = result.points
            if diff:
                report.changed += 1
            else:
                report.unchanged += 1
    audit.record("survey.converted", actor=actor, now=now, campaign_id=campaign.id, subject=campaign.key,
                 after={"weights": weights.as_json(), "changed": report.changed, "unchanged": report.unchanged,
                        "missing": len(report.missing), "skipped": [c for c, _ in report.skipped]})
    flush()
    return report
