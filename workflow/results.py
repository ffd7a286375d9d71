"""A campaign's results: per commune the scores, subtotals, total, index, rank, band and change on last year.

Everything here is computed from the score rows through ``workflow.scoring`` (the one place totals and
the index are computed) and never stored; only a publication freezes it (``workflow.publication``).

Rules (docs/results.md):
- rank: by index percentage, highest first; equal percentages share a rank and the next rank skips
  ("1, 2, 2, 4"); within a shared rank rows are listed by commune code.
- band: the plan's ``classification`` read against the index percentage; a band holds every
  percentage from its ``min`` (inclusive) up to the next band's ``min`` (exclusive).
- last year: the commune's own case in the previous campaign (the campaign's ``previous_campaign``, else
  one of the same authority a year earlier, else any campaign a year earlier that scored it). A commune
  merged since then is compared with its predecessors: previous percentage = the mean of theirs (two
  decimals, half up), their ranks are shown one by one, and no rank change is computed (their ranks were
  among other communes).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from models import Campaign, Case, Commune, CommuneMerger, CriteriaItem, ResultSnapshot, Score, User, db
from states import COMMUNE_SCOPED_ROLES, Role

from . import access, audit, scoring
from .errors import InvalidInput, NotFound, NotPermitted
from .scoring import ZERO

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ItemResult:
    code: str
    title_vi: str
    max_points: Decimal
    score: Decimal
    not_applicable: bool
    method: str


@dataclass(frozen=True)
class AreaResult:
    code: str
    title_vi: str
    max_points: Decimal
    own_max: Decimal
    score: Decimal


@dataclass(frozen=True)
class Standing:
    """A commune's result in a past campaign: enough to compare with."""

    commune_code: str
    commune_name: str
    campaign_key: str
    year: int
    percentage: Decimal
    rank: int | None


@dataclass
class PreviousResult:
    """Last year's comparison: the commune's own standing, or its predecessors' when it was merged since."""

    campaign_key: str
    year: int
    percentage: Decimal
    rank: int | None  # None for a merged commune (see the module docstring)
    merged: bool = False
    predecessors: list[Standing] = field(default_factory=list)


@dataclass
class CommuneResult:
    case_id: int
    commune_code: str
    commune_name: str
    stage: str
    items: list[ItemResult]
    areas: list[AreaResult]
    survey_points: Decimal
    total: Decimal
    own_max: Decimal
    max_points: Decimal
    percentage: Decimal
    rank: int | None = None
    band: str | None = None
    previous: PreviousResult | None = None

    @property
    def rank_change(self) -> int | None:
        """Places gained since last year (positive: moved up); None without a comparable rank."""
        if self.rank is None or self.previous is None or self.previous.rank is None:
            return None
        return self.previous.rank - self.rank

    @property
    def percentage_change(self) -> Decimal | None:
        if self.previous is None:
            return None
        return self.percentage - self.previous.percentage


def criteria_items(campaign: Campaign) -> list[CriteriaItem]:
    return list(db.session.scalars(select(CriteriaItem).where(
        CriteriaItem.criteria_set_id == campaign.criteria_set_id).order_by(CriteriaItem.position)))


def case_result(case: Case, items: list[CriteriaItem] | None = None,
                scores: dict[int, Score] | None = None) -> CommuneResult:
    """One case's result (no rank, band or comparison: those need the whole campaign)."""
    items = items if items is not None else criteria_items(case.campaign)
    if scores is None:
        scores = {s.item_id: s for s in db.session.scalars(select(Score).where(Score.case_id == case.id))}
    totals = scoring.totals_of(items, scores)
    leaves = []
    survey = ZERO
    for item in items:
        if not item.is_leaf:
            continue
        node = totals.nodes[item.code]
        na = node.own_max == ZERO and item.max_points > ZERO
        leaves.append(ItemResult(item.code, item.title_vi, item.max_points, node.final_total, na, item.method))
        if item.method == "survey":
            survey += node.final_total
    areas = [AreaResult(code, totals.nodes[code].title_vi, totals.nodes[code].max_points,
                        totals.nodes[code].own_max, totals.nodes[code].final_total) for code in totals.areas]
    return CommuneResult(
        case_id=case.id, commune_code=case.commune.code, commune_name=case.commune.name, stage=case.stage,
        items=leaves, areas=areas, survey_points=survey, total=totals.total, own_max=totals.own_max,
        max_points=case.campaign.criteria_set.total_points, percentage=totals.percentage,
    )


def competition_ranks(values: list[Decimal]) -> list[int]:
    """Standard competition ranks of ``values`` (higher is better): equal values share, the next skips."""
    return [1 + sum(1 for other in values if other > value) for value in values]


def band_of(percentage: Decimal, classification: list[dict] | None) -> str | None:
    """The plan's band for an index percentage: ``min`` inclusive, the band above's ``min`` exclusive."""
    for band in classification or []:  # highest first, as the plan validator guarantees
        if percentage >= Decimal(str(band["min"])):
            return band["label"]
    return None


def campaign_results(campaign: Campaign, *, with_previous: bool = True) -> list[CommuneResult]:
    """Every case of the campaign, ranked (rank, then commune code), banded and compared with last year."""
    items = criteria_items(campaign)
    cases = db.session.scalars(select(Case).join(Commune, Commune.id == Case.commune_id)
                               .options(joinedload(Case.commune))
                               .where(Case.campaign_id == campaign.id).order_by(Commune.code)).all()
    by_case: dict[int, dict[int, Score]] = {}
    for score in db.session.scalars(select(Score).join(Case, Case.id == Score.case_id)
                                    .where(Case.campaign_id == campaign.id)):
        by_case.setdefault(score.case_id, {})[score.item_id] = score
    rows = [case_result(case, items, by_case.get(case.id, {})) for case in cases]
    for row, rank in zip(rows, competition_ranks([r.percentage for r in rows]), strict=True):
        row.rank = rank
        row.band = band_of(row.percentage, campaign.classification)
    rows.sort(key=lambda r: (r.rank, r.commune_code))
    if with_previous:
        compare = Comparison(campaign)
        communes = {case.id: case.commune for case in cases}
        for row in rows:
            row.previous = compare.previous_of(communes[row.case_id])
    return rows


# --- last year ------------------------------------------------------------------------------------

def previous_campaign(campaign: Campaign) -> Campaign | None:
    """The campaign this one follows: the one named in the plan, else the same authority's a year earlier."""
    if campaign.previous_campaign_id:
        return db.session.get(Campaign, campaign.previous_campaign_id)
    return db.session.scalar(select(Campaign).where(Campaign.authority_id == campaign.authority_id,
                                                    Campaign.year == campaign.year - 1).order_by(Campaign.id))


def standings(campaign: Campaign) -> dict[str, Standing]:
    """A past campaign's results by commune code: its latest published version, else computed now."""
    latest = latest_snapshot(campaign)
    if latest is not None:
        data = json.loads(latest.payload)
        return {e["commune_code"]: Standing(e["commune_code"], e["commune_name"], campaign.key, campaign.year,
                                            Decimal(e["percentage"]), e["rank"]) for e in data["communes"]}
    return {r.commune_code: Standing(r.commune_code, r.commune_name, campaign.key, campaign.year,
                                     r.percentage, r.rank)
            for r in campaign_results(campaign, with_previous=False)}


def latest_snapshot(campaign: Campaign) -> ResultSnapshot | None:
    return db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign.id)
                             .order_by(ResultSnapshot.version.desc()).limit(1))


class Comparison:
    """Finds each commune's result of the year before, caching each past campaign's standings."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        self.previous = previous_campaign(campaign)
        self._cache: dict[int, dict[str, Standing]] = {}
        self._mergers: dict[int, list[CommuneMerger]] | None = None

    def _standings(self, campaign: Campaign) -> dict[str, Standing]:
        if campaign.id not in self._cache:
            self._cache[campaign.id] = standings(campaign)
        return self._cache[campaign.id]

    def _standing_a_year_before(self, commune: Commune) -> Standing | None:
        year = self.campaign.year - 1
        if self.previous is not None and self.previous.year == year:
            found = self._standings(self.previous).get(commune.code)
            if found is not None:
                return found
        # after the reform the authority changed (district -> province): any campaign that scored it
        for campaign in db.session.scalars(select(Campaign).join(Case, Case.campaign_id == Campaign.id).where(
                Case.commune_id == commune.id, Campaign.year == year).order_by(Campaign.id)):
            found = self._standings(campaign).get(commune.code)
            if found is not None:
                return found
        return None

    def previous_of(self, commune: Commune) -> PreviousResult | None:
        if self._mergers is None:  # every merger into this campaign's communes, in one query
            self._mergers = {}
            for m in db.session.scalars(select(CommuneMerger).options(joinedload(CommuneMerger.predecessor))
                                        .join(Case, Case.commune_id == CommuneMerger.commune_id)
                                        .where(Case.campaign_id == self.campaign.id)):
                self._mergers.setdefault(m.commune_id, []).append(m)
        mergers = sorted((m for m in self._mergers.get(commune.id, []) if m.merged_on.year > self.campaign.year - 1),
                         key=lambda m: m.predecessor.code)
        if mergers:
            found = [s for s in (self._standing_a_year_before(m.predecessor) for m in mergers) if s is not None]
            if not found:
                return None
            mean = (sum((s.percentage for s in found), ZERO) / len(found)).quantize(CENT, ROUND_HALF_UP)
            return PreviousResult(found[0].campaign_key, found[0].year, mean, None, merged=True,
                                  predecessors=found)
        own = self._standing_a_year_before(commune)
        if own is None:
            return None
        return PreviousResult(own.campaign_key, own.year, own.percentage, own.rank)


# --- commune lineage --------------------------------------------------------------------------------

def predecessors_of(commune: Commune) -> list[CommuneMerger]:
    return list(db.session.scalars(select(CommuneMerger).join(Commune, Commune.id == CommuneMerger.predecessor_id)
                                   .where(CommuneMerger.commune_id == commune.id).order_by(Commune.code)))


def commune_by_code(code: str) -> Commune:
    commune = db.session.scalar(select(Commune).where(Commune.code == (code or "").strip()))
    if commune is None:
        raise NotFound(f"no commune with code {code!r}")
    return commune


def record_merger(commune: Commune, predecessors: list[Commune], merged_on: dt.date, actor: User | None, *,
                  now: dt.datetime) -> list[CommuneMerger]:
    """Record that ``predecessors`` were merged into ``commune`` on ``merged_on`` (admin; audited)."""
    if actor is not None and not (actor.is_active and actor.has_role(Role.admin)):
        raise NotPermitted("Only an administrator may record a merger of communes.")
    if not predecessors:
        raise InvalidInput("from: name at least one predecessor commune", {"from": ["required"]})
    known = {m.predecessor_id for m in predecessors_of(commune)}
    added, codes = [], []
    for predecessor in predecessors:
        if predecessor.id == commune.id:
            raise InvalidInput(f"from: {predecessor.code} cannot be its own predecessor",
                               {"from": ["the merged commune itself"]})
        if predecessor.id in known:
            continue
        known.add(predecessor.id)
        row = CommuneMerger(commune_id=commune.id, predecessor_id=predecessor.id, merged_on=merged_on,
                            recorded_by_id=actor.id if actor else None, recorded_at=now)
        db.session.add(row)
        added.append(row)
        codes.append(predecessor.code)
    if added:
        db.session.flush()
        audit.record("commune.merged", actor=actor, now=now, subject=commune.code,
                     after={"predecessors": codes, "merged_on": merged_on})
    return added


# --- who sees what ----------------------------------------------------------------------------------

def campaign_by_key(key: str) -> Campaign | None:
    return db.session.scalar(select(Campaign).where(Campaign.key == key))


def snapshots_of(campaign: Campaign) -> list[ResultSnapshot]:
    """Every published version, newest first."""
    return list(db.session.scalars(select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign.id)
                                   .order_by(ResultSnapshot.version.desc())))


def snapshot_version(campaign: Campaign, version: int | None) -> ResultSnapshot | None:
    """A published version (the latest when ``version`` is None); published results are public to every
    signed-in user."""
    if version is None:
        return latest_snapshot(campaign)
    return db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.campaign_id == campaign.id,
                                                          ResultSnapshot.version == version))


def sees_all_live(user: User, campaign: Campaign) -> bool:
    """Unpublished results of every commune: the secretariat, leader, auditor, admin and the council."""
    return bool(user.is_active and (user.roles & access.CAMPAIGN_WIDE_READERS or access.holds_seat(user, campaign.id)))


def own_case(user: User, campaign: Campaign) -> Case | None:
    """The case of a commune officer's or chair's own commune in ``campaign``, if any."""
    if not (user.is_active and user.roles & COMMUNE_SCOPED_ROLES and user.commune_id is not None):
        return None
    case = db.session.scalar(select(Case).where(Case.campaign_id == campaign.id, Case.commune_id == user.commune_id))
    return case if case is not None and access.can_view_case(user, case) else None


def may_see_live(user: User, campaign: Campaign) -> bool:
    """Whether ``user`` may see any unpublished result of ``campaign`` (without computing them)."""
    return sees_all_live(user, campaign) or own_case(user, campaign) is not None


def live_results_for(user: User, campaign: Campaign) -> list[CommuneResult] | None:
    """The unpublished results ``user`` may see: all (ranked), their own commune's only (no rank or band
    comparison with others), or None."""
    if sees_all_live(user, campaign):
        return campaign_results(campaign)
    case = own_case(user, campaign)
    if case is None:
        return None
    row = case_result(case)
    row.band = band_of(row.percentage, campaign.classification)
    return [row]


def campaigns_with_results(user: User) -> list[tuple[Campaign, ResultSnapshot | None, bool]]:
    """(campaign, latest published version, may see unpublished results) for the results index."""
    out = []
    for campaign in db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.key)):
        latest = latest_snapshot(campaign)
        live = may_see_live(user, campaign)
        if latest is not None or live:
            out.append((campaign, latest, live))
    return out
