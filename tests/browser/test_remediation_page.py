"""The remediation plan page in a real browser: the officer fills in and submits, the secretariat marks done."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import expect
from sqlalchemy import select

from models import User
from states import Stage
from tests.browser.helpers import log_in, password_hash, screenshot
from workflow import remediation


def test_officer_submits_and_secretariat_marks_an_item_done(app, db, make, new_page):
    campaign = make.campaign()
    case = make.advance(make.case_of(campaign, "10001"), Stage.publication)
    for user in db.session.scalars(select(User)):
        user.password_hash = password_hash()
    db.session.commit()
    plan = remediation.plan_of(case)
    due = (dt.date.today() + dt.timedelta(days=60)).isoformat()

    officer = new_page()
    log_in(officer, make.officers["10001"].email)
    officer.goto(f"/cases/{case.id}")
    officer.click("#remediation-link a")
    expect(officer.locator("#plan-status")).to_have_text("dự thảo")
    for item in plan.items:
        officer.fill(f"input[name=responsible-{item.id}]", "Công chức Văn phòng - Thống kê")
        officer.fill(f"textarea[name=action-{item.id}]", f"Khắc phục mục {item.code}")
        officer.fill(f"input[name=due-{item.id}]", due)
    officer.click("#save-plan")
    expect(officer.locator(".flash.success")).to_be_visible()
    officer.click("#submit-plan")
    expect(officer.locator("#plan-status")).to_have_text("đã nộp")
    screenshot(officer, "remediation-submitted.png")

    secretariat = new_page()
    log_in(secretariat, make.secretariat.email)
    secretariat.goto(f"/cases/{case.id}/remediation")
    secretariat.click("[data-done='1.1.1']")
    expect(secretariat.locator("#item-1\\.1\\.1")).to_have_attribute("data-status", "done")
    expect(secretariat.locator("[data-done]")).to_have_count(3)
