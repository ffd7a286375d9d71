"""In a real browser: the secretariat's case board, filtered to the overdue cases."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from states import Stage
from tests.browser.helpers import log_in, password_hash, screenshot
from tests.factories import NOW, Factory
from workflow import cases

pytestmark = pytest.mark.browser


@pytest.fixture
def late_campaign(db, world):
    """A second campaign whose self-assessment due (10/11/2023) is long past and whose later dues are ahead.

    Overdue: 20002 and 20003 (still self-assessing). Not overdue: 20001 (planning, no deadline),
    20004 (appraisal, due ahead) and 20005 (returned for revision with a new deadline ahead, although
    the stage's own due has passed).
    """
    ahead = (dt.date.today() + dt.timedelta(days=200)).isoformat()
    f = Factory(db)
    campaign = f.campaign("late-2023", communes=("20001", "20002", "20003", "20004", "20005"), dues={
        "self_assessment": "2023-11-10", "appraisal": ahead, "survey": ahead, "council_meeting": ahead,
        "publication": ahead})
    f.secretariat.password_hash = password_hash()
    for code in ("20002", "20003", "20005"):
        f.advance(f.case_of(campaign, code), Stage.self_assessment)
    f.advance(f.case_of(campaign, "20004"), Stage.appraisal)
    returned = f.advance(f.case_of(campaign, "20005"), Stage.appraisal)
    cases.fire(returned, "return_for_revision", f.secretariat, now=NOW, reason="Thiếu tài liệu kiểm chứng",
               revision_due=dt.date.fromisoformat(ahead))
    db.session.commit()
    return f


def _codes(page, selector: str) -> list[str]:
    return sorted(page.locator(selector).evaluate_all("els => els.map(e => e.dataset.code)"))


def test_board_filtered_to_overdue_shows_exactly_the_overdue_cases(page, late_campaign):
    log_in(page, late_campaign.secretariat.email)
    page.goto("/board")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    page.select_option("#f-campaign", "tiny-2023")  # applies at once (board.js)
    page.wait_for_url(re.compile(r"campaign=tiny-2023"))
    assert _codes(page, "#board .case-card") == ["10001", "10002"]
    page.select_option("#f-campaign", "late-2023")
    page.wait_for_url(re.compile(r"campaign=late-2023"))
    expect(page.locator("#board-summary .stat.total")).to_have_attribute("data-total", "5")
    cards = page.locator("#board .case-card")
    expect(cards).to_have_count(5)
    assert _codes(page, "#board .case-card") == ["20001", "20002", "20003", "20004", "20005"]
    assert _codes(page, "#board .case-card.overdue") == ["20002", "20003"]
    expect(page.locator("#board-summary .stat.overdue")).to_have_attribute("data-overdue-total", "2")
    # the other campaign's cases stay off this board
    expect(page.locator("#board .case-card[data-code='10001']")).to_have_count(0)
    screenshot(page, "board.png")

    page.check("#f-overdue")  # applies at once too
    page.wait_for_url(re.compile(r"overdue=1"))
    expect(page.locator("#f-overdue")).to_be_checked()
    expect(cards).to_have_count(2)
    assert _codes(page, "#board .case-card") == ["20002", "20003"]
    for card in cards.all():
        expect(card).to_have_attribute("data-status", "overdue")
        expect(card).to_have_attribute("data-stage", "self_assessment")
        expect(card.locator(".due")).to_contain_text("10/11/2023")
        assert int(card.get_attribute("data-left")) < 0
    expect(page.locator("#board .board-column[data-stage='self_assessment'] .count")).to_have_text("2")
    expect(page.locator("#board .board-column[data-stage='appraisal'] .case-card")).to_have_count(0)

    # the filter lives in the URL: the table view keeps it
    page.click("#to-table")
    expect(page.locator("#board-table tbody tr.case-row")).to_have_count(2)
    assert _codes(page, "#board-table tbody tr.case-row") == ["20002", "20003"]

    # clearing the filter brings every case back
    page.click("#clear-filters")
    expect(page.locator("#board-table tbody tr.case-row")).to_have_count(5)
