"""In a real browser: log-in and log-out, the language switch, a commune officer kept out of another commune."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import log_in, log_out

pytestmark = pytest.mark.browser


def test_login_then_logout(page, world):
    officer = world.officers["10001"]
    page.goto("/cases")
    expect(page).to_have_url(re.compile(r"/login\?next="))  # not logged in: sent to the form
    expect(page.locator("h1")).to_have_text("Đăng nhập")

    page.fill("#email", officer.email)
    page.fill("#password", "wrong password")
    page.click("form button[type=submit]")
    expect(page.locator(".flash.error")).to_have_text("Sai thư điện tử hoặc mật khẩu.")
    expect(page.locator("#email")).to_have_value(officer.email)  # what was typed is kept

    log_in(page, officer.email)
    expect(page.locator("header .who")).to_contain_text(officer.email)
    page.goto("/cases")
    expect(page.locator("table.cases tbody tr")).to_have_count(1)
    expect(page.locator("table.cases tbody")).to_contain_text("Xã 10001")

    log_out(page)
    expect(page.locator("header .who")).to_have_count(0)
    page.goto("/cases")
    expect(page).to_have_url(re.compile(r"/login"))  # the session is really gone


def test_language_switch_persists_across_pages(page, world):
    log_in(page, world.secretariat.email)
    page.goto("/cases")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "vi")  # Vietnamese by default, whatever the browser asks for
    expect(page.locator("header")).to_contain_text("Đăng xuất")

    page.click("header >> text=English")
    expect(page).to_have_url(re.compile(r"/cases$"))  # back where the switch was pressed
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator("header")).to_contain_text("Log out")
    expect(page.locator("h1")).to_contain_text("Cases")

    # the choice follows the user to another page
    case_id = world.case_of(world.campaign_obj, "10001").id
    page.goto(f"/cases/{case_id}")
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator("dl.facts")).to_contain_text("Stage")

    page.click("header >> text=Tiếng Việt")
    expect(html).to_have_attribute("lang", "vi")
    expect(page.locator("dl.facts")).to_contain_text("Giai đoạn")
    page.goto("/cases")
    expect(html).to_have_attribute("lang", "vi")
    expect(page.locator("h1")).to_contain_text("Hồ sơ")


def test_commune_officer_cannot_open_another_communes_case(page, world):
    other = world.case_of(world.campaign_obj, "10002")
    own = world.case_of(world.campaign_obj, "10001")
    log_in(page, world.officers["10001"].email)

    response = page.goto(f"/cases/{other.id}")
    assert response.status == 404
    expect(page.locator("[data-error='404']")).to_contain_text("Trang này không tồn tại.")
    body = page.content()
    assert "Traceback" not in body and "Xã 10002" not in body
    # the same page as for a case that does not exist: the other commune's case is not disclosed
    missing = page.goto("/cases/999999")
    assert missing.status == 404
    expect(page.locator("[data-error='404'] p").first).to_have_text("Trang này không tồn tại.")

    # the friendly page leads back, and the officer's own case still opens
    page.click("[data-error='404'] a")
    expect(page.locator("header .who")).to_contain_text(world.officers["10001"].email)
    assert page.goto(f"/cases/{own.id}").status == 200
    expect(page.locator("h1")).to_contain_text("Xã 10001")
