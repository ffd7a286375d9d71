"""The sweep's batched reads and shared rendering change nothing it queues, counts or records.

Each sweep runs twice at the same moment: first with an ``enqueue`` that checks every message's
"missing" list against ``cases.readiness`` and renders it alone with ``render_case_message`` (then
rolled back), then as the scheduler runs it (batched guards, shapes rendered once, bulk insert).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from models import AuditEvent, Case, Deadline, OutboxMessage
from notifications import outbox
from states import Stage
from tests.factories import REMINDER_POLICY
from workflow import cases, reminders, scores, signoff
from workflow.reminders import COMPLETING_TRANSITION
from workflow.sweep import sweep

HN = ZoneInfo("Asia/Ho_Chi_Minh")
POLICY = REMINDER_POLICY
COLUMNS = ("key", "kind", "case_id", "deadline_id", "stage", "level", "recipient_user_id", "recipient", "locale",
           "subject", "body_text", "body_html", "ics", "status", "attempts", "scheduled_for", "next_attempt_at",
           "created_at")


def _moments():
    day = dt.date(2023, 11, 1)
    while day <= dt.date(2023, 12, 22):
        if not dt.date(2023, 11, 17) <= day <= dt.date(2023, 12, 5):  # a long downtime: stale notices skipped
            yield dt.datetime.combine(day, dt.time(8, 30), tzinfo=HN).astimezone(dt.UTC)
        day += dt.timedelta(days=1)


def _varied(make, db, now):
    campaign = make.campaign(communes=tuple(f"1000{i}" for i in range(1, 8)))  # 'approve' under sign-off
    campaign.reminders = dict(POLICY)
    db.session.commit()
    case = {code: make.case_of(campaign, code) for code in (f"1000{i}" for i in range(1, 8))}
    for code in ("10001", "10002", "10006"):
        make.advance(case[code], Stage.self_assessment)
    officer = make.officers["10002"]
    scores.set_self_assessment(case["10002"], "1.1.1", officer, now=now, score=1)  # evidence required
    scores.set_self_assessment(case["10002"], "1.1.2", officer, now=now, score=2, explanation="Có báo cáo")
    make.advance(case["10003"], Stage.appraisal)
    scores.set_appraisal(case["10003"], "1.1.2", make.secretariat, now=now, score=1)
    make.advance(case["10004"], Stage.council_meeting)
    assert not cases.fire(case["10004"], "approve", make.secretariat, now=now).fired
    signoff.sign(case["10004"], make.council[1], "approve", now=now, comment="Đồng ý")
    make.advance(case["10005"], Stage.survey)
    make.advance(case["10007"], Stage.council_meeting)  # no sign-off pending: the chair is reminded
    # an English reader with a name and a commune that need escaping
    make.officers["10006"].locale = "en"
    make.officers["10006"].name = "<b>O'Brien & co</b>"
    case["10006"].commune.name = "Xã A&B <Mới>"
    make.chairs["10001"].locale = "en"
    db.session.commit()
    return campaign


def _events_after(db, seq: int) -> list[tuple]:
    return [(e.action, e.case_id, e.subject, e.after, e.hash) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))]


def _counts(report) -> tuple:
    return report.deadlines, report.enqueued, report.already_queued, report.skipped, report.keys


def test_batched_sweep_queues_and_records_exactly_what_one_by_one_would(make, db, now):
    _varied(make, db, now)
    total = skipped = 0
    kinds = set()
    for at in _moments():
        expected: dict[str, dict] = {}

        def one_by_one(expected=expected, **kw):
            transition = COMPLETING_TRANSITION.get(kw["deadline"].stage)
            assert kw["facts"]["missing"] == ([str(b) for b in cases.readiness(kw["case"], transition)]
                                              if transition else [])
            row = outbox.enqueue_row(**kw)  # rendered alone by render_case_message
            if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == row["key"])) is not None:
                return False
            expected[row["key"]] = row
            return True

        seq = db.session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0)))
        reference = sweep(now=at, enqueue=one_by_one)
        recorded = _events_after(db, seq)
        db.session.rollback()

        report = sweep(now=at)
        db.session.commit()
        assert _counts(report) == _counts(reference), at
        assert _events_after(db, seq) == recorded
        queued = {m.key: m for m in db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.key.in_(report.keys)))}
        assert set(queued) == set(expected) == set(report.keys)
        for key, row in expected.items():
            assert {c: getattr(queued[key], c) for c in COLUMNS} == {c: row[c] for c in COLUMNS}, key
        total += report.enqueued
        skipped += report.skipped
        kinds |= {(m.kind, m.locale, m.stage) for m in queued.values()}
    # the moments met every kind of notice, both languages, the stages and skipped stale notices
    assert total > 30 and skipped > 0
    assert {k for k, _, _ in kinds} == {"reminder", "overdue", "escalation"}
    assert {loc for _, loc, _ in kinds} == {"vi", "en"}
    assert {"self_assessment", "appraisal", "survey", "council_meeting"} <= {s for _, _, s in kinds}


def test_plain_directory_names_the_same_people(make, db, now):
    campaign = _varied(make, db, now)
    rich, plain = reminders.Directory(campaign), reminders.Directory(campaign, plain=True)
    planner = reminders.Planner(campaign)
    seen = 0
    for case in db.session.scalars(select(Case).where(Case.campaign_id == campaign.id)):
        for stage in (*reminders.DEADLINE_STAGES, "remediation"):
            for m in planner.moments(dt.date(2023, 11, 10)):
                want = [(u.id, u.email, u.name, u.locale) for u in rich.recipients(case, stage, m)]
                assert [(u.id, u.email, u.name, u.locale) for u in plain.recipients(case, stage, m)] == want
                seen += len(want)
    assert seen > 50


def test_a_deadline_the_session_holds_follows_the_sweep_before_commit(make, db, now):
    _varied(make, db, now)
    held = db.session.scalars(select(Deadline).where(Deadline.completed_at.is_(None))).all()
    report = sweep(now=dt.datetime(2023, 11, 3, 1, 0, tzinfo=dt.UTC))  # 08:00 in Hà Nội, not committed
    assert report.enqueued > 0
    stored = dict(db.session.execute(select(Deadline.__table__.c.id, Deadline.__table__.c.next_notice_at)).all())
    assert [(d.id, d.next_notice_at) for d in held] == [(d.id, stored[d.id]) for d in held]
    assert any(d.next_notice_at > dt.datetime(2023, 11, 3, 1, 0, tzinfo=dt.UTC) for d in held)
    db.session.rollback()
