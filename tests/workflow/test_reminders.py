"""Reminder policy and the campaign's schedule, with every date computed by hand.

The factory's plan: self_assessment 10/11/2023 (Fri), survey 05/12 (Tue), council_meeting 10/12
(Sun -> Mon 11/12, art. 148), appraisal and publication 15/12 (Fri). No holidays in Nov-Dec 2023.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from states import Stage
from tests.factories import REMINDER_POLICY
from workflow import cases, reminders, signoff
from workflow.calendar import WorkingCalendar
from workflow.reminders import Policy

D = dt.date
HN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC)  # 1/11/2023 09:00 in Hà Nội
POLICY = REMINDER_POLICY

# (local date it goes out, kind, level) per due, hand-counted on the calendar
SELF_ASSESSMENT = [(D(2023, 11, 3), "reminder", 5), (D(2023, 11, 8), "reminder", 2),
                   (D(2023, 11, 10), "reminder", 0), (D(2023, 11, 13), "overdue", 0),
                   (D(2023, 11, 14), "escalation", 1), (D(2023, 11, 17), "escalation", 2)]
SURVEY = [(D(2023, 11, 28), "reminder", 5), (D(2023, 12, 1), "reminder", 2), (D(2023, 12, 5), "reminder", 0),
          (D(2023, 12, 6), "overdue", 0), (D(2023, 12, 7), "escalation", 1), (D(2023, 12, 12), "escalation", 2)]
COUNCIL = [(D(2023, 12, 4), "reminder", 5), (D(2023, 12, 7), "reminder", 2), (D(2023, 12, 11), "reminder", 0),
           (D(2023, 12, 12), "overdue", 0), (D(2023, 12, 13), "escalation", 1),
           (D(2023, 12, 18), "escalation", 2)]
DEC_15 = [(D(2023, 12, 8), "reminder", 5), (D(2023, 12, 13), "reminder", 2), (D(2023, 12, 15), "reminder", 0),
          (D(2023, 12, 18), "overdue", 0), (D(2023, 12, 19), "escalation", 1),
          (D(2023, 12, 22), "escalation", 2)]


def _campaign(make):
    campaign = make.campaign()
    campaign.reminders = POLICY
    make.db.session.commit()
    return campaign


def _who(make, code, stage, kind, level):
    k = "tiny-2023.example.vn"
    if kind == "escalation":
        return [f"chair{code}@{k}", f"head@{k}"] if level == 1 else [f"leader@{k}"]
    return {
        "self_assessment": [f"officer{code}@{k}"],
        "appraisal": [f"head@{k}", f"secretariat@{k}"],
        "survey": [f"secretariat@{k}"],
        "council_meeting": [f"council0@{k}"],  # no pending sign-off: the council chair
        "publication": [f"leader@{k}"],
    }[stage]


def _expected(make, code, plan, open_stage=None):
    """The notices of ``plan``'s stages; those of ``open_stage`` from its open deadline, the rest planned."""
    due = {"self_assessment": D(2023, 11, 10), "survey": D(2023, 12, 5), "council_meeting": D(2023, 12, 11),
           "appraisal": D(2023, 12, 15), "publication": D(2023, 12, 15)}
    table = {"self_assessment": SELF_ASSESSMENT, "appraisal": DEC_15, "survey": SURVEY,
             "council_meeting": COUNCIL, "publication": DEC_15}
    return [{"date": day.isoformat(), "due": due[stage].isoformat(), "commune_code": code, "stage": stage,
             "kind": kind, "level": level, "recipients": _who(make, code, stage, kind, level),
             "planned": stage != open_stage}
            for stage in plan for day, kind, level in table[stage]]


def _sorted(rows):
    order = list(reminders.DEADLINE_STAGES)
    return sorted(rows, key=lambda r: (r["date"], r["commune_code"], order.index(r["stage"]),
                                       reminders.KIND_ORDER[r["kind"]], r["level"]))


def test_policy_defaults_and_catch_up():
    policy = Policy.from_block({})
    assert policy.before_working_days == (5, 2, 0)
    assert policy.overdue_notice is True and policy.escalations == ()
    assert policy.catch_up == dt.timedelta(hours=24)
    custom = Policy.from_block({**POLICY, "catch_up_hours": 6, "overdue_notice": False})
    assert custom.catch_up == dt.timedelta(hours=6) and not custom.overdue_notice
    assert [(e.level, e.after_working_days, e.to) for e in custom.escalations] == [
        (1, 2, ("commune_chair", "secretariat_head")), (2, 5, ("authority_leader",))]


def test_a_campaigns_policy_follows_its_reminders_block(make):
    campaign = make.campaign()
    campaign.reminders = {"before_working_days": [3]}
    assert reminders.policy_of(campaign).before_working_days == (3,)
    campaign.reminders = {"before_working_days": [4, 1], "overdue_notice": False}  # changed: read afresh
    assert reminders.policy_of(campaign) == Policy(before_working_days=(4, 1), overdue_notice=False)
    due = D(2024, 2, 16)
    found = reminders.moments(reminders.policy_of(campaign), WorkingCalendar(), due, HN)
    found.clear()  # a caller's list is its own: the kept answer is not changed
    assert [m.day for m in reminders.moments_for_campaign(campaign, due)] == [D(2024, 2, 5), D(2024, 2, 15)]


def test_moments_go_out_at_8_local_and_count_working_days_across_tet():
    policy = Policy.from_block(POLICY)
    found = reminders.moments(policy, WorkingCalendar(), D(2024, 2, 16), HN)
    assert [(m.day, m.kind, m.level) for m in found] == [
        (D(2024, 2, 2), "reminder", 5),  # from Fri 16 Feb back: 15, (Tết), 7, 6, 5, 2 Feb
        (D(2024, 2, 7), "reminder", 2),
        (D(2024, 2, 16), "reminder", 0),
        (D(2024, 2, 19), "overdue", 0),
        (D(2024, 2, 20), "escalation", 1),
        (D(2024, 2, 23), "escalation", 2),
    ]
    assert found[0].at == dt.datetime(2024, 2, 2, 1, 0, tzinfo=dt.UTC)  # 08:00 in Hà Nội
    assert found[0].at.astimezone(HN).time() == dt.time(8, 0)


def test_full_campaign_schedule_with_hand_computed_dates(make):
    campaign = _campaign(make)
    make.advance(make.case_of(campaign, "10001"), Stage.self_assessment)
    make.advance(make.case_of(campaign, "10002"), Stage.appraisal)
    got = [n.as_json() for n in reminders.schedule(campaign, now=NOW)]
    expected = _sorted(
        _expected(make, "10001", ["self_assessment", "appraisal", "survey", "council_meeting", "publication"],
                  open_stage="self_assessment")
        + _expected(make, "10002", ["appraisal", "survey", "council_meeting", "publication"], open_stage="appraisal"))
    assert got == expected
    assert len(got) == 54
    # the open rows carry their ids; later stages are planned without rows
    notices = reminders.schedule(campaign, now=NOW)
    assert {n.deadline_id is not None for n in notices if n.stage == "self_assessment"} == {True}
    assert {n.deadline_id for n in notices if n.stage == "survey"} == {None}


def test_a_case_still_in_planning_lists_every_stage_and_the_past_is_left_out(make):
    campaign = _campaign(make)
    # 8/11/2023 08:00 local: the 5- and 2-day self-assessment reminders have gone
    at = dt.datetime(2023, 11, 8, 8, 0, tzinfo=HN)
    got = [n.as_json() for n in reminders.schedule(campaign, now=at) if n.commune_code == "10002"]
    expected = [r for r in _sorted(_expected(make, "10002", list(reminders.DEADLINE_STAGES)))
                if r["date"] > "2023-11-08"]
    assert got == expected
    assert got[0]["date"] == "2023-11-10" and got[0]["stage"] == "self_assessment"


def test_completed_stages_send_nothing(make):
    campaign = _campaign(make)
    make.advance(make.case_of(campaign, "10001"), Stage.publication)
    stages = {n.stage for n in reminders.schedule(campaign, now=NOW) if n.commune_code == "10001"}
    assert stages == {"publication"}


def test_council_reminders_go_to_members_who_have_not_signed(make):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.council_meeting)
    cases.fire(case, "approve", make.secretariat, now=NOW)  # opens the sign-off
    signoff.sign(case, make.council[0], "approve", now=NOW, comment="Đồng ý")
    make.db.session.commit()
    council = [n for n in reminders.schedule(campaign, now=NOW)
               if n.commune_code == "10001" and n.stage == "council_meeting"]
    assert [(n.day, n.kind, n.level) for n in council] == COUNCIL
    assert {tuple(u.email for u in n.recipients) for n in council if n.kind != "escalation"} == {
        ("council1@tiny-2023.example.vn", "council2@tiny-2023.example.vn")}


def test_a_case_returned_for_revision_is_reminded_of_its_revision_deadline(make):
    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    cases.fire(case, "return_for_revision", make.secretariat, now=NOW, reason="Thiếu tài liệu 1.1.1",
               revision_due=D(2023, 11, 20))
    make.db.session.commit()
    mine = [n for n in reminders.schedule(campaign, now=NOW) if n.commune_code == "10001"]
    revision = [n for n in mine if n.deadline_kind == "revision"]
    assert [(n.day, n.kind, n.level) for n in revision] == [
        (D(2023, 11, 13), "reminder", 5), (D(2023, 11, 16), "reminder", 2), (D(2023, 11, 20), "reminder", 0),
        (D(2023, 11, 21), "overdue", 0), (D(2023, 11, 22), "escalation", 1), (D(2023, 11, 27), "escalation", 2)]
    assert all(n.stage == "self_assessment" for n in revision)
    assert revision[0].recipients[0].email == "officer10001@tiny-2023.example.vn"
    # the original self-assessment deadline was completed at submission: nothing on 10/11 for it
    assert not [n for n in mine if n.stage == "self_assessment" and n.deadline_kind == "stage"]
    # appraisal comes again after resubmission, so it is planned
    assert [n.day for n in mine if n.stage == "appraisal"][0] == D(2023, 12, 8)


def test_deadline_rows_know_their_first_notice(make, db):
    from models import Deadline

    campaign = _campaign(make)
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    row = db.session.query(Deadline).filter_by(case_id=case.id, stage="self_assessment").one()
    assert row.next_notice_at == dt.datetime(2023, 11, 3, 1, 0, tzinfo=dt.UTC)
    make.advance(case, Stage.appraisal)
    db.session.refresh(row)
    assert row.completed_at is not None and row.next_notice_at is None


def test_the_plan_file_accepts_catch_up_hours():
    from marshmallow import ValidationError

    from workflow.schemas.plan import RemindersSchema

    assert RemindersSchema().load({})["catch_up_hours"] == 24
    block = RemindersSchema().load({**POLICY, "catch_up_hours": 6})
    assert Policy.from_block(block).catch_up == dt.timedelta(hours=6)
    with pytest.raises(ValidationError) as exc:
        RemindersSchema().load({"catch_up_hours": -1})
    assert exc.value.messages == {"catch_up_hours": ["must be between 0 and 720 hours"]}
