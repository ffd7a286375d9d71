"""The published results page in a real browser: the charts draw (server-side SVG), nothing breaks the CSP,
and the version's hash, bands and last year's places are on the page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from models import Commune, Score, User
from states import Stage
from tests.browser.helpers import log_in, password_hash, screenshot
from workflow import cases, publication, results, scores

pytestmark = pytest.mark.browser


def approve_with(make, case, appraised: dict[str, str], now) -> None:
    """Through the real workflow, with these appraised scores (the rest at the factory's)."""
    make.advance(case, Stage.appraisal, now)
    make.fill_appraisal(case, now)
    for code, value in appraised.items():
        scores.set_appraisal(case, code, make.secretariat, now=now, score=Decimal(value))
    if not cases.fire(case, "complete_appraisal", make.secretariat, now=now).fired:
        make.sign_to_quorum(case, now)
    make.advance(case, Stage.publication, now)


def test_published_results_page(live_server, page, make, db, now):
    campaign = make.campaign(communes=("10001", "10002", "10003", "10004"))
    campaign.classification = [{"min": "80.00", "label": "Tốt"}, {"min": "65.00", "label": "Khá"},
                               {"min": "0.00", "label": "Trung bình"}]
    campaign.year = 2025
    head, viewer = make.head, make.officers["10003"]
    for code, values in (("10001", {"1.1.2": "2"}), ("10002", {}), ("10003", {"2.1.1": "0"}),
                         ("10004", {"1.1.1": "1", "1.1.2": "2"})):
        approve_with(make, make.case_of(campaign, code), values, now)
    old = make.campaign(key="huyen-2024", communes=("20001", "20002"), criteria_set=campaign.criteria_set)
    old.year = 2024
    commune = {c.code: c for c in db.session.scalars(select(Commune))}
    for code in ("10001", "10002"):
        cases.ensure_case(old, commune[code], actor=None, now=now)
    db.session.flush()
    for code, value in (("10001", "0.5"), ("10002", "1"), ("20001", "2"), ("20002", "1.5")):  # last year's
        db.session.add(Score(case_id=make.case_of(old, code).id, item_id=scores.item_by_code(
            make.case_of(old, code), "1.1.2").id, appraised_score=Decimal(value)))
    results.record_merger(commune["10004"], [commune["20001"], commune["20002"]], dt.date(2025, 7, 1), make.admin,
                          now=now)
    snap = publication.publish_campaign(campaign, head, now=now)
    for user in db.session.scalars(select(User)):
        user.password_hash = password_hash()
    db.session.commit()

    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error"
            and "favicon" not in msg.location.get("url", "") else None)  # the app has no icon
    log_in(page, viewer.email)
    page.goto(f"/results/{campaign.key}")
    assert page.locator("#snapshot-sha256").inner_text() == snap.sha256
    assert page.locator("svg.chart").count() == 3
    assert page.locator("svg.chart rect.bar").first.bounding_box()["width"] > 100
    ranking = page.locator("#ranking").inner_text()
    assert "Hợp nhất từ" in ranking and "Xã 20001 (hạng 1), Xã 20002 (hạng 2)" in ranking.replace("\n", " ")
    assert page.locator('#ranking tr[data-code="10001"] td').nth(7).inner_text() == "+2"  # 4th last year, 2nd now
    screenshot(page, "results-published.png")
    assert not problems, problems
