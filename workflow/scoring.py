"""Totals of a case, computed in one place: per node of the tree, overall, and the index percentage.

The score that counts is the appraised one for self-assessed items and the survey points for
survey items. Not-applicable items leave the commune's own maximum, and the index is the total
as a percentage of that maximum, two decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from models import Case, CriteriaItem, Score, db

ZERO = Decimal("0.00")


@dataclass
class NodeTotal:
    code: str
    title_vi: str
    max_points: Decimal
    own_max: Decimal = ZERO  # without not-applicable items
    self_total: Decimal = ZERO
    final_total: Decimal = ZERO
    children: list[str] = field(default_factory=list)


@dataclass
class CaseTotals:
    nodes: dict[str, NodeTotal]
    areas: list[str]
    total: Decimal
    own_max: Decimal
    self_total: Decimal

    @property
    def percentage(self) -> Decimal:
        return percentage(self.total, self.own_max)


def percentage(total: Decimal, own_max: Decimal) -> Decimal:
    """``total`` as a percentage of the commune's own maximum, to two decimals (half up)."""
    if not own_max:
        return ZERO
    return (total * 100 / own_max).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def case_totals(case: Case) -> CaseTotals:
    items = db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == case.campaign.criteria_set_id).order_by(CriteriaItem.position)).all()
    scores = {s.item_id: s for s in db.session.scalars(select(Score).where(Score.case_id == case.id))}
    return totals_of(items, scores)


def totals_of(items: list[CriteriaItem], scores: dict[int, Score]) -> CaseTotals:
    """The totals of one case from its criteria items (in position order) and its score rows by item id;
    for callers that read many cases at once (``workflow.results``)."""
    by_id = {i.id: i for i in items}
    nodes = {i.code: NodeTotal(i.code, i.title_vi, i.max_points) for i in items}
    for i in items:
        if i.parent_id is not None:
            nodes[by_id[i.parent_id].code].children.append(i.code)
    for i in items:
        if not i.is_leaf:
            continue
        s = scores.get(i.id)
        na = s is not None and s.not_applicable
        own = ZERO if na else i.max_points
        final = (s.final(i.method) if s else None) or ZERO
        self_score = (s.self_score if s and i.method == "self" and not na else None) or ZERO
        current = i
        while current is not None:
            node = nodes[current.code]
            node.own_max += own
            node.final_total += final
            node.self_total += self_score
            current = by_id.get(current.parent_id) if current.parent_id else None
    areas = [i.code for i in items if i.parent_id is None]
    return CaseTotals(
        nodes=nodes, areas=areas,
        total=sum((nodes[a].final_total for a in areas), ZERO),
        own_max=sum((nodes[a].own_max for a in areas), ZERO),
        self_total=sum((nodes[a].self_total for a in areas), ZERO),
    )
