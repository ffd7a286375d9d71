"""Starting a campaign in bulk (cases.fire_many, audit.record_many) leaves what ``fire`` case by case leaves."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from sqlalchemy import select, update

from config import ROOT
from models import AuditEvent, Case, Commune, Deadline, DomainEvent, SignOff, User
from models.collation import sort_key
from states import Role, Stage
from workflow import audit, cases
from workflow.criteria_sets import load_criteria_file
from workflow.errors import Conflict, TransitionRefused
from workflow.plans import cases_in_planning, load_plan, start_campaign

PLAN_FILE = ROOT / "examples" / "plan-nui-thanh-2023.yaml"
CRITERIA_FILE = ROOT / "examples" / "criteria-quang-dien-xa-2019.json"
SECRETARY = "mai.noivu@example.vn"


@pytest.fixture
def campaign(db, now):
    load_criteria_file(CRITERIA_FILE, actor=None, now=now)
    db.session.commit()
    campaign = load_plan(yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8")), actor=None, now=now).campaign
    db.session.commit()
    return campaign


def _secretary(db) -> User:
    return db.session.scalar(select(User).where(User.email == SECRETARY))


def _planning(db, campaign) -> list[Case]:
    return list(db.session.scalars(select(Case).where(Case.campaign_id == campaign.id).order_by(Case.id)))


def _left_by_open(db, case: Case) -> dict:
    """Everything opening wrote for ``case``, without ids and hashes."""
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                       AuditEvent.action == "case.transition"))
    outbox = db.session.scalar(select(DomainEvent).where(DomainEvent.case_id == case.id))
    deadline = db.session.scalar(select(Deadline).where(Deadline.case_id == case.id))
    return {
        "case": (case.stage, case.version, case.updated_at),
        "audit": (event.actor, event.actor_id, event.subject, event.before, event.after, event.occurred_at),
        "outbox": (outbox.name, outbox.payload, outbox.occurred_at),
        "deadline": (deadline.stage, deadline.kind, deadline.round, deadline.plan_due, deadline.due,
                     deadline.explanation, deadline.next_notice_at, deadline.completed_at),
    }


def test_bulk_open_writes_what_fire_writes_case_by_case(db, now, campaign):
    first, second, *_ = _planning(db, campaign)
    version = second.version
    cases.fire(first, "open", _secretary(db), now=now)  # the one-by-one path
    db.session.commit()
    assert start_campaign(campaign, _secretary(db), now=now) == 16  # the bulk path opens the other 16
    db.session.commit()
    assert second.version == version + 1
    one, bulk = _left_by_open(db, first), _left_by_open(db, second)
    assert bulk["audit"][4]["due"] and bulk == one
    seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, len(seqs) + 1))
    assert audit.verify().ok


def test_a_pending_sign_off_refuses_the_whole_start(db, now, campaign):
    waiting = _planning(db, campaign)
    db.session.add(SignOff(case_id=waiting[5].id, transition="open", status="pending", requested_at=now))
    db.session.commit()
    with pytest.raises(TransitionRefused) as refused:
        start_campaign(campaign, _secretary(db), now=now)
    assert "sign-off" in refused.value.blockers[0].reason
    db.session.rollback()
    assert {c.stage for c in _planning(db, campaign)} == {Stage.planning.value}
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "case.transition")) is None


def test_open_under_sign_off_opens_sign_offs_instead_of_moving_cases(db, now, campaign):
    campaign.sign_off = ["open"]
    db.session.commit()
    assert start_campaign(campaign, _secretary(db), now=now) == 0
    db.session.commit()
    assert {c.stage for c in _planning(db, campaign)} == {Stage.planning.value}
    assert len(db.session.scalars(select(SignOff).where(SignOff.status == "pending")).all()) == 17


def test_record_many_continues_the_chain_between_single_records(db, now, campaign):
    actor = _secretary(db)
    audit.record("test.one", actor=actor, now=now, subject="a")
    audit.record_many([audit.Entry("test.many", campaign.id, None, "b", before={"x": 1}),
                       audit.Entry("test.many", campaign.id, None, "c", after={"y": [1, 2]})], actor=actor, now=now)
    audit.record("test.one", actor=None, now=now, subject="d")
    db.session.commit()
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("test.%"))
                              .order_by(AuditEvent.seq)).all()
    assert [r.subject for r in rows] == ["a", "b", "c", "d"]
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert rows[2].after == {"y": [1, 2]} and rows[1].actor == SECRETARY
    assert audit.verify().ok


def _columns(obj, *skip: str) -> dict:
    return {c.key: getattr(obj, c.key) for c in type(obj).__table__.columns if c.key not in ("id", *skip)}


def test_a_stage_deadline_the_case_had_is_reopened_as_fire_reopens_it(db, now, campaign):
    first, second, *_ = _planning(db, campaign)
    for case in (first, second):  # as a case sent back to planning would hold: a completed, stale row
        db.session.add(Deadline(case_id=case.id, stage=Stage.self_assessment.value, kind="stage", round=0,
                                plan_due=dt.date(2023, 1, 2), due=dt.date(2023, 1, 2), explanation="old",
                                completed_at=now - dt.timedelta(days=30)))
    db.session.commit()
    cases.fire(first, "open", _secretary(db), now=now)
    db.session.commit()
    assert start_campaign(campaign, _secretary(db), now=now) == 16
    db.session.commit()
    one, bulk = _left_by_open(db, first), _left_by_open(db, second)
    assert bulk == one and bulk["deadline"][7] is None and bulk["deadline"][5] != "old"
    assert len(db.session.scalars(select(Deadline).where(Deadline.case_id == second.id)).all()) == 1


def test_a_case_changed_meanwhile_makes_the_whole_start_a_conflict(db, now, campaign):
    waiting = cases_in_planning(campaign)
    db.session.execute(update(Case).where(Case.id == waiting[3].id).values(version=Case.version + 1)
                       .execution_options(synchronize_session=False))  # another transaction's change
    with pytest.raises(Conflict):
        cases.fire_many(waiting, "open", _secretary(db), now=now)
    assert {c.stage for c in _planning(db, campaign)} == {Stage.planning.value}
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "case.transition")) is None
    assert db.session.scalar(select(Deadline)) is None


def test_the_plans_bulk_rows_are_those_the_orm_writes(db, now, campaign):
    """Communes, users and cases inserted by load_plan in bulk hold what the ORM path writes."""
    bulk_case = _planning(db, campaign)[0]
    commune = Commune(code="99999", name="Xã Đối Chứng", authority_id=bulk_case.commune.authority_id)
    db.session.add(commune)
    db.session.flush()
    one_case = cases.ensure_case(campaign, commune, actor=None, now=now)
    officer = User(email="orm.officer@example.vn", name="Cán bộ ORM", commune_id=commune.id, created_at=now)
    officer.grant(Role.commune_officer)
    db.session.add(officer)
    db.session.commit()
    planned = db.session.scalar(select(User).where(  # the plan's officer of the bulk case's commune
        User.commune_id == bulk_case.commune_id, User.role_rows.any(role=Role.commune_officer.value)))
    assert _columns(planned, "email", "name", "commune_id") == _columns(officer, "email", "name", "commune_id")
    assert planned.roles == officer.roles
    assert _columns(bulk_case, "commune_id") == _columns(one_case, "commune_id")
    assert _columns(bulk_case.commune, "code", "name", "name_key") == _columns(commune, "code", "name", "name_key")
    assert [c.name_key for c in (bulk_case.commune, commune)] == [sort_key(c.name) for c in (bulk_case.commune, commune)]
    events = {case.id: db.session.scalar(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                                  AuditEvent.action == "case.created"))
              for case in (bulk_case, one_case)}
    skip = ("seq", "case_id", "subject", "after", "prev_hash", "hash")
    assert _columns(events[bulk_case.id], *skip) == _columns(events[one_case.id], *skip)
    assert events[bulk_case.id].after == {"stage": "planning", "commune": bulk_case.commune.code}
    assert audit.verify().ok
