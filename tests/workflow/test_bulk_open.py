"""Starting a campaign in bulk (cases.fire_many, audit.record_many) leaves what ``fire`` case by case leaves."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import select

from config import ROOT
from models import AuditEvent, Case, Deadline, DomainEvent, SignOff, User
from states import Stage
from workflow import audit, cases
from workflow.criteria_sets import load_criteria_file
from workflow.errors import TransitionRefused
from workflow.plans import load_plan, start_campaign

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
