"""Loading campaign plans: the Núi Thành example, idempotence, updates, and every kind of refused file."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import yaml
from sqlalchemy import func, select

from config import ROOT
from models import (
    AuditEvent,
    Authority,
    Campaign,
    CampaignStaff,
    CampaignStageDue,
    Case,
    Commune,
    CouncilSeat,
    Deadline,
    User,
    UserRole,
)
from states import Role, Stage
from workflow import audit, cases
from workflow.criteria_sets import load_criteria, load_criteria_file
from workflow.errors import NotPermitted, PlanInvalid
from workflow.plans import load_plan, load_plan_file, start_campaign

PLAN_FILE = ROOT / "examples" / "plan-nui-thanh-2023.yaml"
CRITERIA_FILE = ROOT / "examples" / "criteria-quang-dien-xa-2019.json"  # the shipped copy of shared/criteria
TABLES = (Authority, Campaign, CampaignStaff, CampaignStageDue, Case, Commune, CouncilSeat, User, UserRole,
          AuditEvent, Deadline)


def _plan() -> dict:
    # the file's own loader keeps dates as text; yaml.safe_load gives date objects: both are accepted
    return yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8"))


def _counts(db) -> dict[str, int]:
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in TABLES}


@pytest.fixture
def criteria(db, now):
    cs, _ = load_criteria_file(CRITERIA_FILE, actor=None, now=now)
    db.session.commit()
    return cs


def _user(db, email) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def test_the_nui_thanh_plan_builds_17_cases_with_people_council_and_dues(db, now, criteria):
    report = load_plan_file(PLAN_FILE, actor=None, now=now)
    db.session.commit()
    campaign = report.campaign
    assert report.created["campaign"] == 1 and report.created["case"] == 17 and report.created["commune"] == 17
    assert campaign.key == "nui-thanh-2023" and campaign.year == 2023
    assert campaign.authority.name == "UBND huyện Núi Thành"
    assert campaign.criteria_set_id == criteria.id
    assert campaign.quorum == "2/3" and campaign.chair_required is True
    assert campaign.sign_off == ["approve"]
    assert campaign.secretariat_name == "Phòng Nội vụ huyện Núi Thành"
    assert campaign.reminders["before_working_days"] == [5, 2, 0] and campaign.reminders["overdue_notice"]
    assert [e["to"] for e in campaign.reminders["escalations"]] == [
        ["commune_chair", "secretariat_head"], ["authority_leader"]]
    assert campaign.survey["due_date"] == "2023-11-20"
    per_commune = [g["per_commune"] for g in campaign.survey["groups"]]
    assert per_commune == [11, 15, 10] and sum(per_commune) * 17 == 612
    assert [b["label"] for b in campaign.classification][0] == "Xuất sắc"
    assert Decimal(campaign.classification[1]["min"]) == Decimal(80)
    assert len(campaign.plan_sha256) == 64
    assert {d.stage: d.due for d in campaign.stage_dues} == {
        "self_assessment": dt.date(2023, 11, 10), "appraisal": dt.date(2023, 12, 15),
        "survey": dt.date(2023, 12, 5), "council_meeting": dt.date(2023, 12, 10),
        "publication": dt.date(2023, 12, 15)}
    all_cases = db.session.scalars(select(Case).where(Case.campaign_id == campaign.id)).all()
    assert len(all_cases) == 17 and {c.stage for c in all_cases} == {"planning"}
    assert {c.commune.name for c in all_cases} >= {"Thị trấn Núi Thành", "Xã Tam Xuân I", "Xã Tam Trà"}

    council = {s.user.email: s.is_chair for s in campaign.council}
    assert len(council) == 5 and council["phochutich.ubnd@example.vn"] is True
    assert sum(council.values()) == 1
    head = _user(db, "truongphong.noivu@example.vn")
    assert head.roles == {Role.secretariat, Role.secretariat_head, Role.council_member}
    assert head.password_hash is None
    assert _user(db, "phochutich.ubnd@example.vn").roles == {Role.council_member, Role.council_chair}
    assert _user(db, "chutich.ubnd@example.vn").roles == {Role.authority_leader}
    officer = _user(db, "cchc.tamxuan1@example.vn")
    assert officer.roles == {Role.commune_officer} and officer.commune.name == "Xã Tam Xuân I"
    assert _user(db, "chutich.tamtra@example.vn").roles == {Role.commune_chair}
    staff = {(s.user.email, s.part) for s in campaign.staff}
    assert staff == {("truongphong.noivu@example.vn", "secretariat_head"), ("mai.noivu@example.vn", "secretariat"),
                     ("bao.noivu@example.vn", "secretariat"), ("chutich.ubnd@example.vn", "authority_leader")}
    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions.count("campaign.created") == 1 and actions.count("case.created") == 17
    assert actions.count("commune.created") == 17 and actions.count("user.created") == 5 + 3 + 1 + 34 - 1
    assert audit.verify().ok


def test_loading_the_same_plan_twice_changes_nothing(db, now, criteria):
    load_plan_file(PLAN_FILE, actor=None, now=now)
    db.session.commit()
    before = _counts(db)
    report = load_plan_file(PLAN_FILE, actor=None, now=now + dt.timedelta(days=1))
    db.session.commit()
    assert not report.changed and "unchanged" in report.summary()
    assert _counts(db) == before


def test_the_same_content_from_safe_load_data_is_also_idempotent(db, now, criteria):
    load_plan(_plan(), actor=None, now=now)
    db.session.commit()
    before = _counts(db)
    assert not load_plan(_plan(), actor=None, now=now).changed
    db.session.commit()
    assert _counts(db) == before


def test_a_month_due_is_the_last_day_and_rolls_past_a_weekend_and_new_year(db, now, criteria):
    plan = _plan()
    plan["stages"]["publication"] = {"due": "2024-01"}
    plan["stages"]["self_assessment"] = {"due": "2023-12"}  # 31/12/2023 is a Sunday, 1/1/2024 a holiday
    campaign = load_plan(plan, actor=None, now=now).campaign
    db.session.commit()
    assert campaign.due_for("publication").due == dt.date(2024, 1, 31)
    assert campaign.due_for("publication").raw == "2024-01"
    head = _user(db, "truongphong.noivu@example.vn")
    case = cases.get_case(campaign.key, "20344")
    cases.fire(case, "open", head, now=now)
    db.session.commit()
    row = db.session.scalar(select(Deadline).where(Deadline.case_id == case.id, Deadline.stage == "self_assessment"))
    assert row.plan_due == dt.date(2023, 12, 31) and row.due == dt.date(2024, 1, 2)
    assert "art. 148" in row.explanation


def test_a_changed_plan_updates_in_place_with_one_audited_change(db, now, criteria):
    load_plan(_plan(), actor=None, now=now)
    db.session.commit()
    plan = _plan()
    plan["council"]["quorum"] = "1/2"
    plan["communes"][1]["name"] = "Xã Tam Xuân 1"
    plan["council"]["members"].pop()  # taichinh@ leaves the council
    plan["communes"].append({"code": "20399", "name": "Xã Thử Mới", "officers": [
        {"name": "Người Mới", "email": "New.Officer@Example.vn"}], "chair": {"name": "Chủ Tịch", "email": "ct@example.vn"}})
    events_before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    report = load_plan(plan, actor=None, now=now)
    db.session.commit()
    assert report.updated["campaign"] == 1 and report.updated["commune"] == 1
    assert report.created["case"] == 1 and report.created["commune"] == 1 and report.created["user"] == 2
    campaign = report.campaign
    assert db.session.scalar(select(func.count(Campaign.id))) == 1
    assert campaign.quorum == "1/2"
    assert "taichinh@example.vn" not in {s.user.email for s in campaign.council}
    assert _user(db, "new.officer@example.vn").commune.code == "20399"
    updated = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign.updated"))
    assert set(updated.after) == {"quorum", "council", "plan_sha256"}
    assert updated.before["quorum"] == "2/3" and updated.after["quorum"] == "1/2"
    new_events = db.session.scalar(select(func.count()).select_from(AuditEvent)) - events_before
    # campaign.updated, commune.updated, commune.created, 2 x user.created, case.created
    assert new_events == 6


def test_a_changed_due_moves_the_open_deadlines_of_running_cases(db, now, criteria):
    campaign = load_plan(_plan(), actor=None, now=now).campaign
    db.session.commit()
    start_campaign(campaign, _user(db, "mai.noivu@example.vn"), now=now)
    db.session.commit()
    plan = _plan()
    plan["stages"]["self_assessment"] = {"due": "2023-11-17"}
    report = load_plan(plan, actor=None, now=now)
    db.session.commit()
    assert report.updated["deadline"] == 17
    dues = set(db.session.scalars(select(Deadline.due).where(Deadline.stage == "self_assessment")))
    assert dues == {dt.date(2023, 11, 17)}
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "deadline.moved")) == 17


def test_start_opens_every_case_once_with_one_audit_event_each(db, now, criteria):
    campaign = load_plan(_plan(), actor=None, now=now).campaign
    db.session.commit()
    secretary = _user(db, "mai.noivu@example.vn")
    ticks = []
    assert start_campaign(campaign, secretary, now=now, progress=ticks.append) == 17
    db.session.commit()
    assert sum(ticks) == 17
    assert set(db.session.scalars(select(Case.stage).where(Case.campaign_id == campaign.id))) == {"self_assessment"}
    opened = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.transition")).all()
    assert len(opened) == 17 and {e.subject for e in opened} == {"open"}
    assert {e.actor for e in opened} == {"mai.noivu@example.vn"}
    assert len({e.case_id for e in opened}) == 17
    assert start_campaign(campaign, secretary, now=now) == 0


def test_only_the_secretariat_may_start(db, now, criteria):
    campaign = load_plan(_plan(), actor=None, now=now).campaign
    db.session.commit()
    with pytest.raises(NotPermitted):
        start_campaign(campaign, _user(db, "cchc.tamxuan1@example.vn"), now=now)


# --- refused files -------------------------------------------------------------------------------


def _set(path, value):
    """A mutation that sets ``a.b[0].c`` to ``value`` in a plan dict."""

    def mutate(plan):
        node = plan
        keys = path.replace("[", ".").replace("]", "").split(".")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _drop(path):
    def mutate(plan):
        node = plan
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        node.pop(keys[-1])

    return mutate


def _both_quotas(plan):
    plan["survey"]["groups"][1]["total"] = 30


def _duplicate_code(plan):
    plan["communes"][3]["code"] = plan["communes"][1]["code"]


def _drop_chair(plan):
    del plan["communes"][5]["chair"]


def _unknown_commune_in_quota(plan):
    plan["survey"]["groups"][1]["per_commune"] = {c["code"]: 15 for c in plan["communes"]} | {"20999": 3}


BAD_PLANS = [
    ("missing required field", _drop("campaign.year"), "campaign.year: required"),
    ("missing communes block", _drop("communes"), "communes: required"),
    ("bad e-mail", _set("communes[3].officers[0].email", "cchc.tamtien(at)example.vn"),
     "communes[3].officers[0].email: not a valid e-mail address"),
    ("duplicate commune code", _duplicate_code, "communes[3].code: duplicate code 20344 (also communes[1])"),
    ("unknown stage", _set("stages.self_asessment", {"due": "2023-11-10"}), "stages.self_asessment: unknown stage"),
    ("bad due", _set("stages.appraisal", {"due": "2023-02-30"}), "stages.appraisal.due: not a date"),
    ("bad month due", _set("stages.publication", {"due": "2024-13"}), "stages.publication.due: not a date"),
    ("bad quorum", _set("council.quorum", "3/2"), "council.quorum: a fraction between 0 and 1"),
    ("unreachable quorum", _set("council.quorum", 9), "council.quorum: quorum 9 cannot be reached"),
    ("unknown criteria set", _set("campaign.criteria_set", "no-such-set"),
     "campaign.criteria_set: no criteria set 'no-such-set'"),
    ("unknown sign_off name", _set("sign_off", ["aprove"]), "sign_off[0]: unknown transition 'aprove'"),
    ("sign_off not allowed", _set("sign_off", ["approve", "submit"]),
     "sign_off[1]: 'submit' cannot be put under council sign-off"),
    ("bad escalation target", _set("reminders.escalations[1].to", ["authority_leader", "mayor"]),
     "reminders.escalations[1].to[1]: must be one of"),
    ("escalation not after the due day", _set("reminders.escalations[0].after_working_days", 0),
     "reminders.escalations[0].after_working_days: must be 1 or more"),
    ("negative reminder", _set("reminders.before_working_days", [5, -1]), "reminders.before_working_days[1]: must be 0"),
    ("survey group with both quotas", _both_quotas,
     "survey.groups[1]: give exactly one of per_commune or total, not both"),
    ("per_commune mapping with unknown commune", _unknown_commune_in_quota,
     "survey.groups[1].per_commune.20999: no commune with code 20999"),
    ("classification not decreasing", _set("classification[2].min", 85),
     "classification[2].min: 85 must be lower than the band above"),
    ("empty classification label", _set("classification[0].label", "  "), "classification[0].label: must not be empty"),
    ("unknown top-level key", _set("remiders", {"overdue_notice": False}), "remiders: unknown top-level key"),
    ("unknown key inside a block", _set("council.quorom", "2/3"), "council.quorom: unknown field"),
    ("commune code as a bare number", _set("communes[0].code", 20341), "communes[0].code: write the code as quoted"),
    ("holiday also a working day", _set("calendar.extra_working_days", ["2023-12-29"]),
     "calendar.extra_working_days[0]: 2023-12-29 is also listed in extra_holidays"),
    ("escalation to chairs a commune lacks", _drop_chair,
     "reminders.escalations[0].to: commune_chair, but these communes name no chair: 20356"),
    ("escalation to a missing leader", _drop("authority_leader"),
     "reminders.escalations[1].to: authority_leader needs an authority_leader block"),
    ("sign-off without a council", _drop("council"), "sign_off: council sign-off needs a council block"),
    ("per_commune mapping missing communes", _set("survey.groups[0].per_commune", {"20341": 11}),
     "survey.groups[0].per_commune: no number for communes 20344, 20347"),
    ("due far from the campaign year", _set("stages.appraisal", {"due": "2032-12-15"}),
     "stages.appraisal.due: 2032-12-15 is far from the campaign year 2023"),
    ("same name, two spellings", _set("council.members[0].name", "Lê Văn Hung"),
     "council.members[0].name: 'Lê Văn Hung' differs from 'Lê Văn Hùng'"),
    ("same person, two communes", _set("communes[2].chair.email", "chutich.tamxuan1@example.vn"),
     "communes[2].chair.email: chutich.tamxuan1@example.vn already acts for commune 20344"),
]


@pytest.mark.parametrize("mutate, expected", [b[1:] for b in BAD_PLANS], ids=[b[0] for b in BAD_PLANS])
def test_a_bad_plan_is_refused_whole_and_nothing_is_written(db, now, criteria, mutate, expected):
    plan = _plan()
    plan["calendar"]["extra_holidays"] = ["2023-12-29"]
    if "same person" in expected or "already acts" in expected:
        plan["communes"][2]["chair"]["name"] = plan["communes"][1]["chair"]["name"]
    mutate(plan)
    before = _counts(db)
    with pytest.raises(PlanInvalid) as exc:
        load_plan(plan, actor=None, now=now)
    assert any(p.startswith(expected) for p in exc.value.problems), exc.value.problems
    db.session.rollback()
    assert _counts(db) == before


def test_every_problem_of_a_file_is_listed_together(db, now, criteria):
    plan = _plan()
    plan["communes"][3]["officers"][0]["email"] = "not-an-address"
    plan["council"]["quorum"] = "zero"
    plan["stages"]["survey"] = {"due": "05/12/2023"}
    plan["typo"] = 1
    with pytest.raises(PlanInvalid) as exc:
        load_plan(plan, actor=None, now=now)
    paths = {p.split(":")[0] for p in exc.value.problems}
    assert paths >= {"communes[3].officers[0].email", "council.quorum", "stages.survey.due", "typo"}
    assert exc.value.message.startswith("plan file refused (4 problem(s))")


def _write(tmp_path, text: str):
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_yaml_syntax_error_is_reported_with_its_line(db, now, criteria, tmp_path):
    path = _write(tmp_path, "campaign:\n  key: x\n  year: [2023\ncommunes: []\n")
    with pytest.raises(PlanInvalid) as exc:
        load_plan_file(path, actor=None, now=now)
    assert exc.value.problems[0].startswith("line 4")
    assert "YAML error" in exc.value.problems[0]


def test_a_python_tag_is_refused_and_never_run(db, now, criteria, tmp_path):
    marker = tmp_path / "pwned"
    path = _write(tmp_path, f"campaign: !!python/object/apply:os.system ['touch {marker}']\ncommunes: []\n")
    with pytest.raises(PlanInvalid) as exc:
        load_plan_file(path, actor=None, now=now)
    assert "python/object/apply" in exc.value.problems[0] and exc.value.problems[0].startswith("line 1")
    assert not marker.exists()
    assert _counts(db)["Campaign"] == 0


def test_an_invalid_calendar_date_in_yaml_is_reported_by_path_not_crashing(db, now, criteria, tmp_path):
    text = PLAN_FILE.read_text(encoding="utf-8").replace("self_assessment: {due: 2023-11-10}",
                                                         "self_assessment: {due: 2023-11-31}")
    with pytest.raises(PlanInvalid) as exc:
        load_plan_file(_write(tmp_path, text), actor=None, now=now)
    assert exc.value.problems == ["stages.self_assessment.due: not a date (YYYY-MM-DD) or month (YYYY-MM): "
                                  "'2023-11-31'"]


def test_a_plan_cannot_drop_a_commune_that_has_a_case(db, now, criteria):
    load_plan(_plan(), actor=None, now=now)
    db.session.commit()
    plan = _plan()
    plan["communes"] = plan["communes"][:-1]
    with pytest.raises(PlanInvalid) as exc:
        load_plan(plan, actor=None, now=now)
    assert exc.value.problems == ["communes: 20389 already have cases in nui-thanh-2023 and cannot be left out "
                                  "(cases keep their history)"]


def test_a_new_criteria_version_is_picked_up_only_while_nothing_is_scored(db, now, criteria):
    campaign = load_plan(_plan(), actor=None, now=now).campaign
    db.session.commit()
    data = json.loads(CRITERIA_FILE.read_text(encoding="utf-8"))
    data["title_en"] = "revised"
    v2, _ = load_criteria(data, actor=None, now=now)
    db.session.commit()
    load_plan(_plan(), actor=None, now=now)
    db.session.commit()
    assert campaign.criteria_set_id == v2.id
    assert campaign.criteria_set.version == 2
    assert Stage.planning.value == cases.get_case(campaign.key, "20341").stage


def test_a_new_criteria_version_is_refused_once_cases_hold_scores(db, now, criteria):
    from workflow import scores

    campaign = load_plan(_plan(), actor=None, now=now).campaign
    db.session.commit()
    start_campaign(campaign, _user(db, "mai.noivu@example.vn"), now=now)
    case = cases.get_case(campaign.key, "20344")
    scores.set_self_assessment(case, "1.1.1", _user(db, "cchc.tamxuan1@example.vn"), now=now,
                               score=Decimal("0.5"), explanation="Ban hành chậm")
    db.session.commit()
    data = json.loads(CRITERIA_FILE.read_text(encoding="utf-8"))
    data["title_en"] = "revised"
    load_criteria(data, actor=None, now=now)
    db.session.commit()
    with pytest.raises(PlanInvalid) as exc:
        load_plan(_plan(), actor=None, now=now)
    assert exc.value.problems[0].startswith(
        "campaign.criteria_set: cannot change to quang-dien-xa-2019 v2: cases of nui-thanh-2023 already hold scores")
    db.session.rollback()
    assert campaign.criteria_set.version == 1


def test_a_json_plan_file_loads_like_the_yaml_one(db, now, criteria, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(_plan(), default=str, ensure_ascii=False), encoding="utf-8")
    report = load_plan_file(path, actor=None, now=now)
    assert report.created["case"] == 17
    assert report.campaign.due_for("council_meeting").due == dt.date(2023, 12, 10)


def test_a_plan_that_is_not_a_mapping_is_refused(db, now, criteria, tmp_path):
    with pytest.raises(PlanInvalid) as exc:
        load_plan_file(_write(tmp_path, "- campaign\n- communes\n"), actor=None, now=now)
    assert exc.value.problems == ["(top level): expected a mapping with campaign, communes, ..."]
