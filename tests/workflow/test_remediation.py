"""Remediation plans: drafted from the lost points at publication, filled in, submitted, returned, done, carried."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from config import ROOT
from models import AuditEvent, Campaign, CampaignStaff, CampaignStageDue, Case, Deadline, RemediationPlan
from states import Stage
from workflow import audit, cases, publication, remediation, remediation_export, scores
from workflow.calendar import parse_due
from workflow.criteria_sets import load_criteria_file
from workflow.errors import Conflict, InvalidInput, NotPermitted
from workflow.remediation import ItemRow, ItemsRefused, PlanIncomplete
from workflow.scoring import case_totals

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2024, 1, 15, 2, 0, tzinfo=dt.UTC)


def publish_quang_thai(make, db, now=NOW) -> Case:
    """Quảng Thái's real 2019 appraisal (tests/fixtures/results-quang-thai-2019.json) through the workflow."""
    criteria, _ = load_criteria_file(ROOT / "examples" / "criteria-quang-dien-xa-2019.json", actor=None, now=now)
    campaign = make.campaign(key="quang-dien-2019", communes=("46BQT",), criteria_set=criteria, sign_off=())
    case = make.advance(make.case_of(campaign, "46BQT"), Stage.appraisal, now=now)
    results = json.loads((FIXTURES / "results-quang-thai-2019.json").read_text(encoding="utf-8"))
    methods = {i.code: i.method for i in criteria.leaves()}
    for row in results["scores"]:
        if methods[row["code"]] == "survey":
            scores.set_survey_points(case, row["code"], make.secretariat, now=now, points=str(row["appraised"]))
        else:
            scores.set_appraisal(case, row["code"], make.secretariat, now=now, score=str(row["appraised"]),
                                 note=row["cause_vi"])
    for transition in ("complete_appraisal", "record_survey", "approve"):
        assert cases.fire(case, transition, make.secretariat, now=now).fired
    db.session.commit()
    return case


def next_year(make, db, campaign: Campaign, key: str = "tiny-2024") -> Campaign:
    """The same communes' campaign a year later (what the bulk operations open), with its cases."""
    nxt = Campaign(key=key, year=campaign.year + 1, authority=campaign.authority, criteria_set=campaign.criteria_set,
                   calendar=campaign.calendar, quorum=campaign.quorum, sign_off=[], reminders=campaign.reminders,
                   classification=[], previous_campaign_id=campaign.id)
    db.session.add(nxt)
    for due in campaign.stage_dues:
        raw = due.due.replace(year=due.due.year + 1).isoformat()
        nxt.stage_dues.append(CampaignStageDue(stage=due.stage, raw=raw, due=parse_due(raw)))
    for staff in campaign.staff:
        nxt.staff.append(CampaignStaff(user=staff.user, part=staff.part))
    db.session.flush()
    for case in db.session.scalars(select(Case).where(Case.campaign_id == campaign.id)):
        cases.ensure_case(nxt, case.commune, actor=make.head, now=NOW)
    db.session.commit()
    return nxt


@pytest.fixture
def published(make, db):
    """The tiny campaign with commune 10001 published: four sub-criteria below their maximum."""
    campaign = make.campaign()
    return make.advance(make.case_of(campaign, "10001"), Stage.publication)


def _fill(plan, officer, now=NOW, due="2024-03-29"):
    rows = [ItemRow(i.id, "Công chức Văn phòng - Thống kê", f"Khắc phục mục {i.code}", due) for i in plan.items]
    return remediation.save_items(plan, rows, officer, now=now)


def test_the_quang_thai_plan_lists_exactly_the_lost_points_of_the_seed_plan(app, db, make):
    case = publish_quang_thai(make, db)
    assert case_totals(case).total == Decimal("84.12")
    plan = remediation.plan_of(case)  # drafted by the publication itself, in the same transaction
    assert plan is not None and plan.status == "draft"
    expected = json.loads((FIXTURES / "remediation-quang-thai-2020.json").read_text(encoding="utf-8"))["items"]

    def dec(text):
        return Decimal(text.replace(",", ".")).quantize(Decimal("0.01"))

    got = [(i.code, i.max_points, i.obtained, i.lost, i.cause) for i in plan.items]
    want = [(e["code"], dec(e["max"]), dec(e["obtained"]), dec(e["max"]) - dec(e["obtained"]), e["cause"])
            for e in expected]
    assert got == want
    assert len(got) == 18 and sum(i.lost for i in plan.items) == Decimal("15.88")  # 100 - 84,12
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "remediation.drafted"))
    assert event.case_id == case.id and len(event.after["items"]) == 18
    assert audit.verify().ok


def test_generating_again_keeps_the_communes_entries(app, db, make, published):
    plan = remediation.plan_of(published)
    _fill(plan, make.officers["10001"])
    db.session.commit()
    assert remediation.generate_plan(published, actor=None, now=LATER) is plan
    assert len(plan.items) == 4 and all(i.responsible for i in plan.items)
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "remediation.updated")) is None


def _correct_and_approve(make, db, case, scores_by_code: dict, now=LATER):
    """Reopen the published case, correct the given scores (with a reason) and approve it again."""
    cases.fire(case, "reopen", make.admin, now=now, reason="Sai sót khi chấm điểm")
    for code, score in scores_by_code.items():
        publication.correct_score(case, code, make.head, now=now, score=str(score), reason="Đính chính theo hồ sơ")
    db.session.commit()
    make.advance(case, Stage.publication, now=now)  # the re-approval re-drafts the plan in its transaction


def test_a_correction_to_full_points_removes_an_untouched_item_and_clears_a_started_one(app, db, make, published):
    plan = remediation.plan_of(published)
    started, untouched, *rest = plan.items
    assert len(rest) == 2 and all(i.lost > 0 for i in plan.items)
    remediation.save_items(plan, [ItemRow(started.id, "Công chức Văn phòng - Thống kê", "Bổ sung hồ sơ", "2024-03-29")],
                           make.officers["10001"], now=NOW)
    db.session.commit()
    started_code, started_max, untouched_code = started.code, started.max_points, untouched.code
    campaign = published.campaign
    make.advance(make.case_of(campaign, "10002"), Stage.publication)
    publication.publish_campaign(campaign, make.head, now=NOW)  # a correction is of published results
    db.session.commit()

    _correct_and_approve(make, db, published, {started_code: started_max, untouched_code: untouched.max_points})
    db.session.expire_all()
    plan = remediation.plan_of(published)
    by_code = {i.code: i for i in plan.items}
    assert untouched_code not in by_code  # nothing was written in it: it goes
    kept = by_code[started_code]  # the commune had started on it: it stays, cleared, with what they wrote
    assert (kept.status, kept.obtained, kept.lost, kept.action) == ("cleared", started_max, 0, "Bổ sung hồ sơ")
    assert [code for code, _ in remediation.incomplete_items(plan)] == [i.code for i in rest]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "remediation.updated")
                              .order_by(AuditEvent.seq.desc()).limit(1))
    assert (event.after["removed"], event.after["cleared"]) == ([untouched_code], [started_code])
    assert event.after["lost"] == str(sum((i.lost for i in rest), Decimal("0.00")))
    outline = remediation_export.outline(plan, now=LATER)  # the document lists lost points only
    assert [row[1] for row in outline.table] == [i.code for i in rest]
    assert audit.verify().ok

    # a later correction takes the points away again: the same item opens once more, entries kept
    _correct_and_approve(make, db, published, {started_code: "0"})
    db.session.expire_all()
    again = {i.code: i for i in remediation.plan_of(published).items}[started_code]
    assert (again.status, again.obtained, again.lost, again.action) == ("open", 0, started_max, "Bổ sung hồ sơ")


def test_no_plan_before_publication(app, db, make):
    campaign = make.campaign()
    case = make.advance(make.case_of(campaign, "10001"), Stage.council_meeting)
    assert remediation.plan_of(case) is None
    with pytest.raises(NotPermitted):
        remediation.generate_plan(case, actor=None, now=NOW)


def test_submit_is_refused_naming_every_incomplete_item(app, db, make, published):
    plan = remediation.plan_of(published)
    officer = make.officers["10001"]
    first = plan.items[0]
    remediation.save_items(plan, [ItemRow(first.id, "Chủ tịch UBND xã", "Ban hành kế hoạch trước 05/12", "2024-03-29")],
                           officer, now=NOW)
    with pytest.raises(PlanIncomplete) as refused:
        remediation.submit(plan, officer, now=NOW)
    assert [code for code, _ in refused.value.missing] == ["1.1.2", "2.1.1", "2.2.1"]
    assert refused.value.missing[0][1] == ["responsible", "action", "due"]
    db.session.rollback()
    assert plan.status == "draft"

    _fill(plan, officer)
    remediation.submit(plan, officer, now=NOW)
    db.session.commit()
    assert plan.status == "submitted"
    rows = remediation.deadlines_of(plan)
    assert sorted(rows) == sorted(i.id for i in plan.items)
    row = rows[plan.items[0].id]
    # 29/03/2024 is a Friday: a working day, kept as written
    assert (row.stage, row.kind, row.due, row.completed_at) == ("remediation", "remediation", dt.date(2024, 3, 29), None)
    assert row.next_notice_at is not None and "1.1.1" in row.explanation
    with pytest.raises(NotPermitted):
        remediation.save_items(plan, [ItemRow(first.id, "X", "Y", "2024-04-01")], officer, now=NOW)


def test_bad_rows_refuse_the_whole_form_and_save_nothing(app, db, make, published):
    plan = remediation.plan_of(published)
    a, b, c = plan.items[:3]
    with pytest.raises(ItemsRefused) as refused:
        remediation.save_items(plan, [ItemRow(a.id, "Ông A", "Việc A", "2024-02-30"),
                                      ItemRow(b.id, "x" * 201, "Việc B", "2024-03-01"),
                                      ItemRow(c.id, "Bà C", "x" * 4001, "2023-10-01")],
                               make.officers["10001"], now=NOW)
    db.session.rollback()
    assert refused.value.item_errors == {"1.1.1": {"due": ["not a date"]},
                                         "1.1.2": {"responsible": ["at most 200 characters"]},
                                         "2.1.1": {"action": ["at most 4000 characters"],
                                                   "due": ["the due date is in the past"]}}
    assert all(i.responsible is None for i in plan.items)
    # dd/mm/yyyy as Vietnamese write it is accepted too
    assert remediation.save_items(plan, [ItemRow(a.id, "Ông A", "Việc A", "29/03/2024")],
                                  make.officers["10001"], now=NOW) == ["1.1.1"]
    assert a.due == dt.date(2024, 3, 29)


def test_only_the_communes_own_officer_edits_and_only_the_secretariat_returns(app, db, make, published):
    plan = remediation.plan_of(published)
    row = [ItemRow(plan.items[0].id, "Ông A", "Việc A", "2024-03-29")]
    for stranger in (make.officers["10002"], make.chairs["10001"], make.secretariat):
        with pytest.raises(NotPermitted):
            remediation.save_items(plan, row, stranger, now=NOW)
        with pytest.raises(NotPermitted):
            remediation.submit(plan, stranger, now=NOW)
    _fill(plan, make.officers["10001"])
    remediation.submit(plan, make.officers["10001"], now=NOW)
    db.session.commit()
    for not_secretariat in (make.officers["10001"], make.auditor, make.leader):
        with pytest.raises(NotPermitted):
            remediation.return_plan(plan, not_secretariat, now=NOW, reason="Thiếu nội dung")
        with pytest.raises(NotPermitted):
            remediation.mark_done(plan, plan.items[0].id, not_secretariat, now=NOW)
    with pytest.raises(Conflict):
        remediation.return_plan(plan, make.secretariat, now=NOW, reason="x", expected_version=plan.version - 1)


def test_return_then_done_stops_the_items_deadline(app, db, make, published):
    plan = remediation.plan_of(published)
    officer = make.officers["10001"]
    _fill(plan, officer)
    remediation.submit(plan, officer, now=NOW)
    with pytest.raises(InvalidInput):
        remediation.return_plan(plan, make.secretariat, now=NOW, reason="  ")
    remediation.return_plan(plan, make.secretariat, now=NOW, reason="Biện pháp chưa cụ thể")
    assert (plan.status, plan.return_reason) == ("returned", "Biện pháp chưa cụ thể")
    item = plan.items[0]
    remediation.save_items(plan, [ItemRow(item.id, "Ông A", "Ban hành kế hoạch trước 05/12/2024", "2024-04-26")],
                           officer, now=NOW)
    remediation.submit(plan, officer, now=NOW)
    assert remediation.deadlines_of(plan)[item.id].due == dt.date(2024, 4, 26)  # moved with the item
    remediation.mark_done(plan, item.id, make.secretariat, now=LATER)
    db.session.commit()
    row = remediation.deadlines_of(plan)[item.id]
    assert (item.status, row.completed_at, row.next_notice_at) == ("done", LATER, None)
    with pytest.raises(NotPermitted):
        remediation.mark_done(plan, item.id, make.secretariat, now=LATER)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("remediation.%"))
                                 .order_by(AuditEvent.seq)).all()
    assert actions == ["remediation.drafted", *["remediation.item_changed"] * 4, "remediation.submitted",
                       "remediation.returned", "remediation.item_changed", "remediation.submitted",
                       "remediation.item_done"]
    assert audit.verify().ok


def test_carry_forward_moves_open_items_to_next_years_case_once(app, db, make, published):
    plan = remediation.plan_of(published)
    officer = make.officers["10001"]
    _fill(plan, officer)
    remediation.submit(plan, officer, now=NOW)
    remediation.mark_done(plan, plan.items[0].id, make.secretariat, now=LATER)
    db.session.commit()
    old_campaign = published.campaign
    new_campaign = next_year(make, db, old_campaign)

    assert remediation.carry_forward(old_campaign, new_campaign, actor=make.head, now=LATER) == 3
    db.session.commit()
    new_case = cases.get_case(new_campaign.key, "10001")
    new_plan = remediation.plan_of(new_case)
    assert [i.code for i in new_plan.items] == ["1.1.2", "2.1.1", "2.2.1"]
    assert all(i.carried_from.plan is plan and i.responsible and i.due is None for i in new_plan.items)
    assert [i.status for i in plan.items] == ["done", "carried", "carried", "carried"]
    # the old deadlines stop chasing; the commune gives new due dates in the new plan
    assert all(r.completed_at is not None for r in remediation.deadlines_of(plan).values())
    assert remediation.carry_forward(old_campaign, new_campaign, actor=make.head, now=LATER) == 0
    assert db.session.scalar(select(RemediationPlan).where(
        RemediationPlan.case_id == cases.get_case(new_campaign.key, "10002").id)) is None
    # next year's form sees last year's items by sub-criterion
    shown = remediation.previous_items(new_case)
    assert sorted(shown) == ["1.1.1", "1.1.2", "2.1.1", "2.2.1"] and shown["1.1.1"][0].status == "done"


def test_deadline_rows_are_read_by_the_campaign_schedule(app, db, make, published):
    from workflow import reminders

    plan = remediation.plan_of(published)
    _fill(plan, make.officers["10001"])
    remediation.submit(plan, make.officers["10001"], now=NOW)
    db.session.commit()
    notices = [n for n in reminders.schedule(published.campaign, now=NOW) if n.stage == "remediation"]
    assert len(notices) == 4 * 4  # three reminders and the overdue notice per item
    assert {u.email for n in notices for u in n.recipients} == {make.officers["10001"].email}
    assert db.session.scalar(select(Deadline.id).where(Deadline.stage == "remediation",
                                                       Deadline.case_id != published.id)) is None
