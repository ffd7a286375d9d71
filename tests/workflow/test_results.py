"""Results: ranking with ties, a not-applicable item, band edges, last year's comparison (with a merger),
the real Quảng Thái 2019 total, and the commune lineage record."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from config import ROOT
from models import AuditEvent, Case, Commune, CommuneMerger, ResultSnapshot, Score
from workflow import cases, criteria_sets, publication, results, scores
from workflow.errors import InvalidInput, NotPermitted

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BANDS = [{"min": "90.00", "label": "Xuất sắc"}, {"min": "70.00", "label": "Khá"}, {"min": "0.00", "label": "Yếu"}]


def put_scores(db, case: Case, values: dict[str, str], na: tuple[str, ...] = ()) -> None:
    """Score rows as the appraisal and survey leave them (this test is about arithmetic, not stages)."""
    for code, value in values.items():
        item = scores.item_by_code(case, code)
        column = "survey_score" if item.method == "survey" else "appraised_score"
        db.session.add(Score(case_id=case.id, item_id=item.id, **{column: Decimal(value)}))
    for code in na:
        db.session.add(Score(case_id=case.id, item_id=scores.item_by_code(case, code).id, not_applicable=True))
    db.session.flush()


def by_code(rows):
    return {r.commune_code: r for r in rows}


def test_ranking_ties_share_a_rank_and_not_applicable_lowers_the_maximum(make, db):
    campaign = make.campaign(communes=("10001", "10002", "10003", "10004"))
    campaign.classification = BANDS
    case = {code: make.case_of(campaign, code) for code in ("10001", "10002", "10003", "10004")}
    # 10001: 1 + 1 + 1.5 = 3.5 of its own maximum 5 (2.1.1, worth 2, is not applicable) -> 70.00 %
    put_scores(db, case["10001"], {"1.1.1": "1", "1.1.2": "1", "2.2.1": "1.5"}, na=("2.1.1",))
    put_scores(db, case["10002"], {"1.1.1": "1", "1.1.2": "1.9", "2.1.1": "0.5", "2.2.1": "1.5"})  # 4.9/7 = 70 %
    put_scores(db, case["10003"], {"1.1.1": "1", "1.1.2": "2", "2.1.1": "2", "2.2.1": "2"})  # 7/7
    put_scores(db, case["10004"], {"1.1.1": "1", "1.1.2": "1", "2.1.1": "0", "2.2.1": "1.5"})  # 3.5/7 = 50 %

    rows = results.campaign_results(campaign)
    got = by_code(rows)
    assert [(r.commune_code, r.rank) for r in rows] == [("10003", 1), ("10001", 2), ("10002", 2), ("10004", 4)]
    a = got["10001"]
    assert (a.total, a.own_max, a.max_points, a.percentage) == (
        Decimal("3.50"), Decimal("5.00"), Decimal("7.00"), Decimal("70.00"))
    assert got["10004"].total == a.total and got["10004"].percentage == Decimal("50.00")
    assert [(x.code, x.score, x.not_applicable) for x in a.items if x.code == "2.1.1"] == [("2.1.1", 0, True)]
    assert {x.code: (x.own_max, x.score) for x in a.areas} == {
        "1": (Decimal("3.00"), Decimal("2.00")), "2": (Decimal("2.00"), Decimal("1.50"))}
    assert a.survey_points == Decimal("1.50")
    assert [got[c].band for c in ("10003", "10001", "10002", "10004")] == ["Xuất sắc", "Khá", "Khá", "Yếu"]


@pytest.mark.parametrize(("percentage", "band"), [
    ("100.00", "Xuất sắc"), ("90.00", "Xuất sắc"), ("89.99", "Khá"), ("70.00", "Khá"), ("69.99", "Yếu"),
    ("0.00", "Yếu"),
])
def test_band_min_is_inclusive_and_the_band_above_exclusive(percentage, band):
    assert results.band_of(Decimal(percentage), BANDS) == band


def test_no_band_without_a_classification_or_below_the_lowest():
    assert results.band_of(Decimal("95"), []) is None
    assert results.band_of(Decimal("49.99"), [{"min": "50.00", "label": "Trung bình"}]) is None


def test_competition_ranks():
    values = [Decimal(v) for v in ("80", "90", "80", "70", "90")]
    assert results.competition_ranks(values) == [3, 1, 3, 5, 1]


def test_year_over_year_with_a_merged_commune(make, db, now):
    new = make.campaign(key="tinh-2025", communes=("10001", "10002"))
    new.year = 2025
    old = make.campaign(key="huyen-2024", communes=("20001", "20002", "20003"),
                        criteria_set=new.criteria_set)
    old.year = 2024
    commune = {c.code: c for c in db.session.scalars(select(Commune))}
    cases.ensure_case(old, commune["10001"], actor=None, now=now)  # kept its code through the reform
    db.session.flush()
    full = {"1.1.1": "1", "1.1.2": "2", "2.1.1": "2", "2.2.1": "2"}
    put_scores(db, make.case_of(old, "20001"), full)  # 100 % -> rank 1 in 2024
    put_scores(db, make.case_of(old, "20002"), {"1.1.1": "1", "1.1.2": "1.2", "2.1.1": "2"})  # 4.2/7 = 60 %
    put_scores(db, make.case_of(old, "20003"), {"1.1.1": "1", "1.1.2": "2", "2.1.1": "1.9"})  # 4.9/7 = 70 %
    put_scores(db, make.case_of(old, "10001"), {"1.1.1": "1", "1.1.2": "1", "2.2.1": "1.5"})  # 3.5/7 = 50 %
    put_scores(db, make.case_of(new, "10001"), {"1.1.1": "1", "1.1.2": "1.9", "2.1.1": "0.5", "2.2.1": "1.5"})
    put_scores(db, make.case_of(new, "10002"), full)
    results.record_merger(commune["10002"], [commune["20001"], commune["20002"]], dt.date(2025, 7, 1), make.admin,
                          now=now)

    got = by_code(results.campaign_results(new))
    kept = got["10001"]
    assert (kept.rank, kept.previous.rank, kept.previous.year, kept.rank_change) == (2, 4, 2024, 2)
    assert kept.percentage_change == Decimal("20.00")
    merged = got["10002"]
    assert merged.previous.merged and merged.previous.rank is None and merged.rank_change is None
    assert merged.previous.percentage == Decimal("80.00")  # mean of 100 % and 60 %
    assert [(s.commune_code, s.rank) for s in merged.previous.predecessors] == [("20001", 1), ("20002", 3)]
    assert merged.percentage_change == Decimal("20.00")


def test_a_merger_before_last_year_compares_the_commune_with_itself(make, db, now):
    new = make.campaign(key="tinh-2026", communes=("10001",))
    new.year = 2026
    old = make.campaign(key="tinh-2025", communes=("20001", "20002"), criteria_set=new.criteria_set)
    old.year = 2025
    commune = {c.code: c for c in db.session.scalars(select(Commune))}
    cases.ensure_case(old, commune["10001"], actor=None, now=now)
    put_scores(db, make.case_of(old, "10001"), {"1.1.1": "1"})  # 1/7 = 14.29 %
    put_scores(db, make.case_of(old, "20002"), {"1.1.2": "2"})  # 2/7: rank 1 in 2025
    results.record_merger(commune["10001"], [commune["20001"]], dt.date(2025, 7, 1), make.admin, now=now)
    previous = by_code(results.campaign_results(new))["10001"].previous
    assert not previous.merged and previous.campaign_key == "tinh-2025"
    assert (previous.rank, previous.percentage) == (2, Decimal("14.29"))


def test_last_year_is_read_from_its_published_version(make, db, now):
    new = make.campaign(key="huyen-2024", communes=("10001",))
    new.year = 2024
    old = make.campaign(key="huyen-2023", communes=("20001",), criteria_set=new.criteria_set)
    old.year, new.previous_campaign_id = 2023, old.id
    commune = db.session.scalar(select(Commune).where(Commune.code == "10001"))
    cases.ensure_case(old, commune, actor=None, now=now)
    put_scores(db, make.case_of(old, "10001"), {"1.1.2": "2"})  # as it stands now: rank 1 of 2
    entries = [{"commune_code": "20001", "commune_name": "Xã 20001", "percentage": "90.00", "rank": 1},
               {"commune_code": "10001", "commune_name": "Xã 10001", "percentage": "12.50", "rank": 2}]
    text = publication.canonical({"communes": entries})  # the published version says rank 2
    db.session.add(ResultSnapshot(campaign_id=old.id, version=1, trigger="campaign", payload=text,
                                  sha256=publication.sha256_of(text), published_at=now))
    db.session.flush()
    previous = by_code(results.campaign_results(new))["10001"].previous
    assert (previous.rank, previous.percentage, previous.campaign_key) == (2, Decimal("12.50"), "huyen-2023")


def test_record_merger_is_admin_only_audited_and_checked(make, db, now):
    make.campaign(communes=("10001", "10002", "10003"))
    commune = {c.code: c for c in db.session.scalars(select(Commune))}
    with pytest.raises(NotPermitted):
        results.record_merger(commune["10001"], [commune["10002"]], dt.date(2025, 7, 1), make.secretariat, now=now)
    with pytest.raises(InvalidInput, match="own predecessor"):
        results.record_merger(commune["10001"], [commune["10001"]], dt.date(2025, 7, 1), make.admin, now=now)
    added = results.record_merger(commune["10001"], [commune["10002"], commune["10003"]], dt.date(2025, 7, 1),
                                  make.admin, now=now)
    assert len(added) == 2
    assert results.record_merger(commune["10001"], [commune["10002"]], dt.date(2025, 7, 1), make.admin,
                                 now=now) == []
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "commune.merged")).after == {
        "predecessors": ["10002", "10003"], "merged_on": "2025-07-01"}
    assert len(db.session.scalars(select(CommuneMerger)).all()) == 2


def test_the_real_quang_thai_2019_result(make, db, now):
    cs, _ = criteria_sets.load_criteria_file(ROOT / "examples" / "criteria-quang-dien-xa-2019.json", actor=None,
                                             now=now)
    campaign = make.campaign(key="quang-dien-2019", communes=("19000",), criteria_set=cs)
    data = json.loads((FIXTURES / "results-quang-thai-2019.json").read_text(encoding="utf-8"))
    case = make.case_of(campaign, "19000")
    put_scores(db, case, {s["code"]: str(s["appraised"]) for s in data["scores"]})
    got = results.case_result(case)
    assert (got.total, got.own_max, got.percentage) == (Decimal("84.12"), Decimal("100.00"), Decimal("84.12"))
    subtotals = {a.code: a.score for a in got.areas}
    assert subtotals["2"] == Decimal(str(data["stated_subtotals"]["2"]))
