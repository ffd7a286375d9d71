"""Next year's campaign from this year's: dates moved (art. 148 across weekends and Tết), the plan loaded
through the plan loader with its cases, audit events, refusals that write nothing, remediation carried."""

from __future__ import annotations

import datetime as dt
import importlib.util

import pytest
import yaml
from sqlalchemy import func, select

from config import ROOT
from models import AuditEvent, Campaign, Case, Commune, Deadline, User
from states import Role, Stage
from workflow import audit, campaign_rollover, plans
from workflow.criteria_sets import load_criteria_file
from workflow.errors import InvalidInput, NotPermitted, PlanInvalid

PLAN_FILE = ROOT / "examples" / "plan-nui-thanh-2023.yaml"
CRITERIA_FILE = ROOT / "examples" / "criteria-quang-dien-xa-2019.json"


def _plan(**stages) -> dict:
    data = yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8"))
    data["stages"].update({k: {"due": v} for k, v in stages.items()})
    return data


@pytest.fixture
def source(db, now):
    """The Núi Thành 2023 campaign, loaded from the shipped example plan."""
    load_criteria_file(CRITERIA_FILE, actor=None, now=now)
    report = plans.load_plan(_plan(), actor=None, now=now)
    db.session.commit()
    return report.campaign


def _head(db) -> User:
    return next(u for u in db.session.scalars(select(User).order_by(User.id)) if Role.secretariat_head in u.roles)


def _counts(db) -> tuple:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Campaign, Case, AuditEvent,
                                                                                  Deadline))


def _dues(proposal) -> dict[str, str]:
    return {stage: block["due"] for stage, block in proposal.plan["stages"].items()}


def test_dates_move_to_next_year_and_weekends_roll_to_monday(source, db):
    proposal = campaign_rollover.propose(source, key="nui-thanh-2024", year=2024)
    # hand-checked: 10/11/2024 and 15/12/2024 are Sundays; 05/12, 10/12 and 20/11/2024 are working days
    assert _dues(proposal) == {"self_assessment": "2024-11-11", "appraisal": "2024-12-16",
                               "survey": "2024-12-05", "council_meeting": "2024-12-10",
                               "publication": "2024-12-16"}
    # the 2023 plan's 10/12/2023 was a Sunday (rolled when deadlines opened); 10/12/2024 is a Tuesday
    assert proposal.plan["survey"]["due"] == "2024-11-20"
    moves = {m.path: m for m in proposal.moves}
    assert moves["stages.self_assessment.due"].before == "2023-11-10"
    assert moves["stages.self_assessment.due"].moved == "2024-11-10"
    assert "weekend" in moves["stages.self_assessment.due"].reason
    assert "Điều 148" in moves["stages.self_assessment.due"].reason_vi
    assert moves["stages.survey.due"].reason == ""
    info = proposal.plan["campaign"]
    assert info["key"] == "nui-thanh-2024" and info["year"] == 2024
    assert info["title"].endswith("năm 2024") and "reference" not in info
    assert info["authority"] == source.authority.name and info["criteria_set"] == "quang-dien-xa-2019"
    assert [c["code"] for c in proposal.plan["communes"]] == sorted(
        db.session.scalars(select(Commune.code).join(Case).where(Case.campaign_id == source.id)))
    # the YAML is what an operator reads: Vietnamese as is, codes kept as text
    text = proposal.to_yaml()
    assert "Xã Tam Xuân I" in text and yaml.safe_load(text) == proposal.plan


def test_dates_roll_across_tet_and_29_february(db, now):
    load_criteria_file(CRITERIA_FILE, actor=None, now=now)
    # a 2023 campaign whose late stages run into early 2024
    report = plans.load_plan(_plan(self_assessment="2024-01-28", appraisal="2024-02-29", council_meeting="2024-01",
                                   publication="2024-02-20"), actor=None, now=now)
    db.session.commit()
    proposal = campaign_rollover.propose(report.campaign, key="nui-thanh-2024", year=2024)
    dues = _dues(proposal)
    # Tết 2025: holidays from Saturday 25/01 to Sunday 02/02; 28/01/2025 is New Year's Eve -> Monday 03/02
    assert dues["self_assessment"] == "2025-02-03"
    moves = {m.path: m for m in proposal.moves}
    assert "Lunar New Year" in moves["stages.self_assessment.due"].reason
    # 29/02/2024 has no 2025 day: the last day of February, a Friday
    assert dues["appraisal"] == "2025-02-28"
    # a month-level due stays a month; its last day (Friday 31/01/2025, Tết) rolls when deadlines open
    assert dues["council_meeting"] == "2025-01"
    assert "03/02/2025" in moves["stages.council_meeting.due"].reason
    assert dues["publication"] == "2025-02-20"  # a Thursday


def test_the_proposal_loads_as_a_plan_with_its_cases_and_audit_events(source, db, now):
    head = _head(db)
    before = db.session.scalar(select(func.max(AuditEvent.seq)))
    proposal = campaign_rollover.propose(source, key="nui-thanh-2024", year=2024)
    result = campaign_rollover.open_next_campaign(source, proposal.plan, actor=head, now=now)
    db.session.commit()

    new = db.session.scalar(select(Campaign).where(Campaign.key == "nui-thanh-2024"))
    assert new is result.campaign and new.year == 2024 and new.previous_campaign_id == source.id
    assert result.cases == 17
    stages = db.session.scalars(select(Case.stage).where(Case.campaign_id == new.id)).all()
    assert len(stages) == 17 and set(stages) == {Stage.planning.value}
    old_codes = set(db.session.scalars(select(Commune.code).join(Case).where(Case.campaign_id == source.id)))
    new_codes = set(db.session.scalars(select(Commune.code).join(Case).where(Case.campaign_id == new.id)))
    assert new_codes == old_codes
    assert {d.stage: d.raw for d in new.stage_dues}["self_assessment"] == "2024-11-11"
    assert {s.user.email for s in new.council} == {s.user.email for s in source.council}

    events = db.session.scalars(select(AuditEvent).where(AuditEvent.seq > before)
                                .order_by(AuditEvent.seq)).all()
    actions = [e.action for e in events]
    assert actions.count("campaign.created") == 1 and actions[-1] == "campaign.rolled_over"
    assert actions.count("user.created") == 0  # the same people, no new accounts
    rolled = events[-1]
    assert rolled.actor == head.email and rolled.campaign_id == new.id
    assert rolled.after["previous_campaign"] == "nui-thanh-2023" and rolled.after["cases"] == 17
    assert audit.verify().ok

    # the new campaign starts like any other: its deadlines are the moved dates
    plans.start_campaign(new, head, now=now)
    db.session.commit()
    dues = set(db.session.scalars(select(Deadline.due).join(Case).where(Case.campaign_id == new.id)))
    assert dues == {dt.date(2024, 11, 11)}


def test_an_existing_key_is_refused_and_nothing_is_written(source, db, now):
    head = _head(db)
    with pytest.raises(InvalidInput) as refused:
        campaign_rollover.propose(source, key="nui-thanh-2023", year=2024)
    assert "already exists" in refused.value.errors["key"][0]
    proposal = campaign_rollover.propose(source, key="nui-thanh-2024", year=2024)
    proposal.plan["campaign"]["key"] = "nui-thanh-2023"  # edited back onto the old campaign
    counts = _counts(db)
    with pytest.raises(InvalidInput) as refused:
        campaign_rollover.open_next_campaign(source, proposal.plan, actor=head, now=now)
    assert refused.value.errors["key"] == ["a campaign with key nui-thanh-2023 already exists (year 2023); "
                                           "choose another key"]
    db.session.rollback()
    assert _counts(db) == counts


@pytest.mark.parametrize(("key", "year", "field"), [
    ("Nui Thanh 2024", 2024, "key"),
    ("nui-thanh-2024", 2023, "year"),
    ("nui-thanh-2024", 2022, "year"),
])
def test_a_bad_key_or_year_names_the_field(source, key, year, field):
    with pytest.raises(InvalidInput) as refused:
        campaign_rollover.propose(source, key=key, year=year)
    assert list(refused.value.errors) == [field]


def test_only_the_secretariat_may_open_it(source, db, now):
    officer = next(u for u in db.session.scalars(select(User)) if Role.commune_officer in u.roles)
    proposal = campaign_rollover.propose(source, key="nui-thanh-2024", year=2024)
    counts = _counts(db)
    with pytest.raises(NotPermitted):
        campaign_rollover.open_next_campaign(source, proposal.plan, actor=officer, now=now)
    db.session.rollback()
    assert _counts(db) == counts


def test_an_edited_plan_with_problems_is_refused_whole(source, db, now):
    proposal = campaign_rollover.propose(source, key="nui-thanh-2024", year=2024)
    proposal.plan["stages"]["appraisal"]["due"] = "2024-13-01"
    proposal.plan["communes"][0]["officers"][0]["email"] = "not-an-address"
    counts = _counts(db)
    with pytest.raises(PlanInvalid) as refused:
        campaign_rollover.open_next_campaign(source, proposal.plan, actor=_head(db), now=now)
    paths = [p.split(":")[0] for p in refused.value.problems]
    assert "stages.appraisal.due" in paths and "communes[0].officers[0].email" in paths
    db.session.rollback()
    assert _counts(db) == counts


@pytest.mark.skipif(importlib.util.find_spec("workflow.remediation") is None,
                    reason="workflow.remediation (the remediation helper's module) is not there yet")
def test_open_remediation_items_are_carried_forward(make, db, now):
    from models import RemediationItem, RemediationPlan

    campaign = make.campaign(communes=("10001", "10002"))
    campaign.secretariat_name = "Phòng Nội vụ huyện Thử"
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.publication)  # publication drafts the plan from the lost points
    db.session.commit()
    open_items = db.session.scalar(select(func.count(RemediationItem.id)).join(RemediationPlan)
                                   .where(RemediationPlan.case_id == case.id, RemediationItem.status == "open"))
    assert open_items > 0

    proposal = campaign_rollover.propose(campaign, key="tiny-2024", year=2024)
    result = campaign_rollover.open_next_campaign(campaign, proposal.plan, actor=make.head, now=now)
    db.session.commit()
    assert result.carried_forward == open_items
    new_case = db.session.scalar(select(Case).join(Commune).where(Case.campaign_id == result.campaign.id,
                                                                  Commune.code == "10001"))
    carried = db.session.scalar(select(func.count(RemediationItem.id)).join(RemediationPlan)
                                .where(RemediationPlan.case_id == new_case.id))
    assert carried == open_items
    rolled = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.rolled_over")).one()
    assert rolled.after["remediation_items_carried_forward"] == open_items
