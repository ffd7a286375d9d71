"""In a real browser: one commune's case walked from self-assessment to publication by its real users.

The commune officer scores, uploads a PDF and submits; the secretariat appraises and completes the
appraisal; survey points are entered through the workflow (no survey page exists) and the secretariat
records them on the case page; the approval goes to the council, whose members sign to quorum in their
inbox; the auditor reads the history and checks the audit chain.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from models import AuditEvent, Case
from tests.browser.helpers import log_in, screenshot, small_pdf
from workflow import scores
from workflow.clock import utcnow

pytestmark = pytest.mark.browser

PDF_NAME = "ke-hoach-cchc-2023.pdf"


def _item(page, code: str):
    return page.locator(f"article.item[data-code='{code}']")


def _post(page, target) -> None:
    """Click a form's submit button and wait for the page the app answers with (its own flash, not the last)."""
    button = page.locator(target) if isinstance(target, str) else target
    with page.expect_navigation():
        button.click()


def _flash_ok(page):
    expect(page.locator(".flash.success")).to_have_count(1)


def _stage(page, stage: str, title_vi: str):
    """The case page shows ``stage`` in the facts and as the stepper's current step."""
    expect(page.locator("dl.facts dd[data-stage]")).to_have_attribute("data-stage", stage)
    expect(page.locator("dl.facts dd[data-stage]")).to_have_text(title_vi)
    expect(page.locator(".stepper [aria-current='step']")).to_have_attribute("data-stage", stage)


def _download(page, link) -> bytes:
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path()).read_bytes()


def test_case_walked_from_self_assessment_to_publication(new_page, world, db, live_server):
    case_id = world.case_of(world.campaign_obj, "10001").id
    case_url = f"/cases/{case_id}"
    pdf = small_pdf()

    # --- 1. the commune officer fills in the self-assessment, uploads evidence and submits --------------
    officer = new_page()
    log_in(officer, world.officers["10001"].email)
    officer.click(f"a[href='{case_url}']")  # from the officer's case list
    _stage(officer, "self_assessment", "Tự đánh giá, chấm điểm")
    blocked = officer.locator("#actions [data-action='submit']")
    expect(blocked).to_have_attribute("data-state", "blocked")
    expect(blocked).to_have_attribute("data-blockers", "3")  # three sub-criteria without a score
    officer.click("#link-self-assessment")
    expect(officer.locator("#submit-section button[data-action='submit']")).to_be_disabled()
    expect(officer.locator("#progress")).to_have_attribute("data-scored", "0")
    expect(officer.locator("#missing-evidence-count")).to_have_text("2")  # 1.1.1 and 2.1.1 require evidence

    evidence_item = _item(officer, "1.1.1")
    evidence_item.locator("input[type=file]").set_input_files(
        {"name": PDF_NAME, "mimeType": "application/pdf", "buffer": pdf})
    evidence_item.locator("input[name=locator]").fill("trang 2, mục II")
    evidence_item.locator(".upload button[type=submit]").click()
    uploaded = officer.locator("[data-evidence-for='1.1.1'] li")
    expect(uploaded).to_have_count(1)  # swapped in by assess.js, no reload
    expect(uploaded).to_contain_text(PDF_NAME)
    expect(uploaded.locator(".locator")).to_contain_text("trang 2, mục II")
    expect(officer.locator("#missing-evidence-count")).to_have_text("1")  # counted down without a reload
    expect(officer.locator("#progress")).to_have_attribute("data-missing-evidence", "1")

    officer.fill("#score-1\\.1\\.1", "1")
    officer.fill("#score-1\\.1\\.2", "1,5")  # the decimal comma, as Vietnamese writes it
    officer.fill("#score-2\\.1\\.1", "2")
    _item(officer, "2.1.1").locator("textarea").fill("Niêm yết công khai tại bộ phận một cửa")
    _post(officer, "#save-draft")
    _flash_ok(officer)
    expect(officer.locator("#progress")).to_have_attribute("data-scored", "3")
    expect(officer.locator("#progress")).to_contain_text("4,50/5,00")  # the survey item is not self-assessed
    expect(officer.locator("#score-1\\.1\\.2")).to_have_value("1,50")
    expect(officer.locator("[data-evidence-for='1.1.1'] li")).to_have_count(1)
    submit = officer.locator("#submit-section button[data-action='submit']")
    expect(submit).to_be_enabled()
    screenshot(officer, "self_assessment.png")

    _post(officer, submit)
    _flash_ok(officer)
    expect(officer.locator("#read-only")).to_have_attribute("data-stage", "appraisal")
    expect(officer.locator("#score-1\\.1\\.2")).to_be_disabled()
    officer.goto(case_url)
    _stage(officer, "appraisal", "Thẩm định")
    expect(officer.locator("#self-total")).to_have_text("4,50")

    # --- 2. the secretariat appraises (a bad value first: refused beside the field, nothing lost) -------
    secretariat = new_page()
    log_in(secretariat, world.secretariat.email)
    secretariat.click("#board .case-card[data-code='10001'] a.name")  # from the board, its home page
    _stage(secretariat, "appraisal", "Thẩm định")
    secretariat.click("#link-appraisal")
    assert _download(secretariat, secretariat.locator("[data-evidence-for='1.1.1'] a")) == pdf
    expect(_item(secretariat, "1.1.1").locator("[data-self-score]")).to_contain_text("1,00")

    secretariat.fill("input[name='appraised-1.1.1']", "0,75")
    secretariat.fill("input[name='appraised-1.1.2']", "1,5")
    secretariat.fill("input[name='appraised-2.1.1']", "2,5")  # over the maximum of 2
    secretariat.fill("textarea[name='note-2.1.1']", "Thiếu ảnh chụp niêm yết")
    _post(secretariat, "#save-appraisal")
    expect(_item(secretariat, "2.1.1").locator("small.error[data-error-for='score']")).to_be_visible()
    expect(secretariat.locator("input[name='appraised-2.1.1']")).to_have_value("2,5")  # what was typed is kept
    expect(secretariat.locator("input[name='appraised-1.1.1']")).to_have_value("0,75")
    expect(secretariat.locator("textarea[name='note-2.1.1']")).to_have_value("Thiếu ảnh chụp niêm yết")
    secretariat.fill("input[name='appraised-2.1.1']", "1,25")
    _post(secretariat, "#save-appraisal")
    _flash_ok(secretariat)
    expect(secretariat.locator("input[name='appraised-2.1.1']")).to_have_value("1,25")
    _post(secretariat, "#complete-form button[data-action='complete_appraisal']")
    _flash_ok(secretariat)
    secretariat.goto(case_url)
    _stage(secretariat, "survey", "Điều tra xã hội học")
    expect(secretariat.locator("#actions [data-action='record_survey']")).to_have_attribute("data-state", "blocked")

    # --- 3. survey points: no survey page exists, so they are entered through the workflow ---------------
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    scores.set_survey_points(case, "2.2.1", world.secretariat, now=utcnow(), points=Decimal("1.62"))
    db.session.commit()
    secretariat.reload()
    record = secretariat.locator("#actions form[data-action='record_survey']")
    expect(record).to_have_attribute("data-state", "enabled")
    _post(secretariat, record.locator("button[type=submit]"))
    _flash_ok(secretariat)
    _stage(secretariat, "council_meeting", "Họp Hội đồng đánh giá")

    # the approval needs the council: asking for it opens a sign-off, the case stays put
    _post(secretariat, "#actions form[data-action='approve'] button[type=submit]")
    _flash_ok(secretariat)
    _stage(secretariat, "council_meeting", "Họp Hội đồng đánh giá")
    pending = secretariat.locator("#signoff article[data-status='pending']")
    expect(pending).to_have_attribute("data-approvals", "0")
    expect(pending).to_have_attribute("data-needed", "2")

    # --- 4. the council signs to quorum: a member on the sign-off page, the chair from the inbox ---------
    member = new_page()
    log_in(member, world.council[1].email)
    expect(member).to_have_url(re.compile(r"/council$"))
    row = member.locator(f"#pending tr[data-case='{case_id}']")
    expect(row.locator("[data-transition]")).to_have_attribute("data-transition", "approve")
    row.locator("a").click()
    expect(member.locator("#total")).to_have_text("5,12/7,00 (73,14%)")
    member.fill("#comment", "Đồng ý với kết quả thẩm định")
    _post(member, "#approve")
    _flash_ok(member)
    row = member.locator(f"#pending tr[data-case='{case_id}']")
    expect(row.locator("[data-mine]")).to_have_attribute("data-mine", "approve")
    expect(row.locator(".quorum")).to_have_attribute("data-approvals", "1")

    chair = new_page()
    log_in(chair, world.council[0].email)
    row = chair.locator(f"#pending tr[data-case='{case_id}']")
    expect(row.locator(".quorum")).to_have_attribute("data-chair", "missing")
    row.locator("input[type=checkbox]").check()
    chair.fill("#bulk-comment", "Thống nhất công bố")
    _post(chair, "#approve-selected")
    expect(chair.locator("#bulk-results li[data-outcome]")).to_have_attribute("data-outcome", "fired")
    expect(chair.locator("#inbox-empty")).to_be_visible()
    expect(chair.locator("#closed tr[data-status='approved']")).to_have_count(1)

    # --- 5. published: the case page shows it to everyone concerned -------------------------------------
    secretariat.goto(case_url)
    _stage(secretariat, "publication", "Phê duyệt, công bố")
    expect(secretariat.locator(".stepper .step[data-state='done']")).to_have_count(5)  # planning to council meeting
    expect(secretariat.locator("#total")).to_have_text("5,12/7,00 (73,14%)")
    expect(secretariat.locator("#total-self")).to_have_text("4,50")
    expect(secretariat.locator("#item-2\\.1\\.1 .diff")).to_have_text("-0,75")
    expect(secretariat.locator("#signoff article[data-status='approved']")).to_have_attribute("data-approvals", "2")
    expect(secretariat.locator("#signoff article[data-status='approved'] tr[data-decision='approve']")).to_have_count(2)
    screenshot(secretariat, "case.png")
    officer.goto(case_url)
    _stage(officer, "publication", "Phê duyệt, công bố")

    # --- 6. the auditor reads the history, the case as it stood, and checks the chain -----------------
    auditor = new_page()
    log_in(auditor, world.auditor.email)
    expect(auditor).to_have_url(re.compile(r"/audit$"))  # the auditor's home
    auditor.fill("#f-case", str(case_id))
    auditor.click("#filters button[type=submit]")
    db.session.expire_all()
    logged = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case_id))
    expect(auditor.locator("#total")).to_have_attribute("data-total", str(logged))
    rows = auditor.locator("#history tbody tr[data-seq]")
    expect(rows).to_have_count(logged)
    expect(rows.filter(has=auditor.locator("td:nth-child(4)", has_text="evidence.added"))).to_have_count(1)
    expect(auditor.locator("#history tr[data-action='signoff.signed']")).to_have_count(2)
    expect(auditor.locator("#history tr[data-action='case.transition']")).to_have_count(5)
    # from an event to the case as it stood then (to the minute: this whole walk took less than that)
    auditor.locator("#history tr[data-action='evidence.added'] a").click()
    expect(auditor.locator("[data-stage-now]")).to_have_attribute("data-stage-now", "publication")
    expect(auditor.locator("#total-now")).to_have_text("5,12/7,00 (73,14%)")
    expect(auditor.locator("#evidence-then-list")).to_contain_text(PDF_NAME)
    # ... and on a chosen date: the day the case was opened (1 Nov 2023), before anything was scored
    auditor.fill("#at", "01/11/2023")
    auditor.click("#as-of-form button[type=submit]")
    expect(auditor.locator("[data-stage-then]")).to_have_attribute("data-stage-then", "self_assessment")
    expect(auditor.locator("#self-then")).to_have_text("0,00")
    expect(auditor.locator("#evidence-then")).to_have_text("0")
    expect(auditor.locator("#total-now")).to_have_text("5,12/7,00 (73,14%)")

    auditor.goto("/audit/integrity")
    _post(auditor, "#run-check button[type=submit]")
    result = auditor.locator("#result")
    expect(result).to_have_class(re.compile(r"\bok\b"))
    expect(result).to_have_attribute("data-ok", "yes")
    assert int(result.get_attribute("data-checked")) >= logged

    # read-only: the auditor sees the case but is offered nothing to do on it
    auditor.goto(case_url)
    _stage(auditor, "publication", "Phê duyệt, công bố")
    expect(auditor.locator("#actions")).to_have_count(0)
