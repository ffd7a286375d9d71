"""The reminder sweep at chosen moments: exactly the expected messages, each once.

Self-assessment is due Fri 10/11/2023: reminders 3/11 (5 days), 8/11 (2), 10/11 (0); overdue 13/11;
escalation 1 on 14/11 (commune chair + secretariat head), escalation 2 on 17/11 (authority leader).
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from models import AuditEvent, Deadline, OutboxMessage, SchedulerState
from states import Stage
from tests.factories import REMINDER_POLICY
from workflow import audit, cases
from workflow.sweep import sweep

HN = ZoneInfo("Asia/Ho_Chi_Minh")
K = "tiny-2023.example.vn"
POLICY = REMINDER_POLICY


def local(month, day, hour=8, minute=0):
    return dt.datetime(2023, month, day, hour, minute, tzinfo=HN)


@pytest.fixture
def campaign(make):
    campaign = make.campaign()
    campaign.reminders = dict(POLICY)
    make.db.session.commit()
    make.advance(make.case_of(campaign, "10001"), Stage.self_assessment)
    return campaign


def _run(db, at, **kw):
    report = sweep(now=at.astimezone(dt.UTC), **kw)
    db.session.commit()
    return report


def _messages(db):
    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return [(r.kind, r.level, r.recipient, r.scheduled_for.astimezone(HN).date().isoformat()) for r in rows]


def _deadline(db, make, campaign, stage="self_assessment"):
    case = make.case_of(campaign, "10001")
    return db.session.scalars(select(Deadline).where(Deadline.case_id == case.id, Deadline.stage == stage)
                              .order_by(Deadline.id.desc())).first()


def test_first_reminder_goes_out_at_8_on_its_day_once(make, db, campaign):
    assert _run(db, local(11, 3, 7, 59)).enqueued == 0
    report = _run(db, local(11, 3, 8, 0))
    case = make.case_of(campaign, "10001")
    row = _deadline(db, make, campaign)
    assert report.keys == [f"reminder:case={case.id}:deadline={row.id}:level=5:to=officer10001@{K}"]
    assert _messages(db) == [("reminder", 5, f"officer10001@{K}", "2023-11-03")]
    msg = db.session.scalar(select(OutboxMessage))
    assert msg.case_id == case.id and msg.deadline_id == row.id and msg.stage == "self_assessment"
    assert row.next_notice_at == local(11, 8).astimezone(dt.UTC)  # moved to the 2-day reminder


def test_the_same_sweep_twice_enqueues_nothing_new(make, db, campaign):
    first = _run(db, local(11, 14, 9))
    second = _run(db, local(11, 14, 9))
    assert first.enqueued == 2
    assert second.enqueued == 0 and second.deadlines == 0 and second.skipped == 0
    assert len(_messages(db)) == 2


def test_sweeping_every_six_hours_sends_each_notice_exactly_once(make, db, campaign):
    at = local(11, 1, 12)
    while at <= local(11, 24):
        _run(db, at)
        at += dt.timedelta(hours=6)
    assert sorted(_messages(db)) == sorted([
        ("reminder", 5, f"officer10001@{K}", "2023-11-03"),
        ("reminder", 2, f"officer10001@{K}", "2023-11-08"),
        ("reminder", 0, f"officer10001@{K}", "2023-11-10"),
        ("overdue", 0, f"officer10001@{K}", "2023-11-13"),
        ("escalation", 1, f"chair10001@{K}", "2023-11-14"),
        ("escalation", 1, f"head@{K}", "2023-11-14"),
        ("escalation", 2, f"leader@{K}", "2023-11-17"),
    ])
    assert _deadline(db, make, campaign).next_notice_at is None  # nothing more planned
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reminder.skipped")).all()


def test_nothing_more_once_the_stage_is_completed(make, db, campaign):
    _run(db, local(11, 3))
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal, now=local(11, 6, 10).astimezone(dt.UTC))
    for day in range(6, 30):
        _run(db, local(11, day, 9))
    assert _messages(db) == [("reminder", 5, f"officer10001@{K}", "2023-11-03")]


def test_after_downtime_stale_notices_are_skipped_and_recorded(make, db, campaign):
    # nothing ran between 1/11 and 14/11 10:00: the escalation of 08:00 is still fresh
    report = _run(db, local(11, 14, 10))
    assert sorted(_messages(db)) == [("escalation", 1, f"chair10001@{K}", "2023-11-14"),
                                     ("escalation", 1, f"head@{K}", "2023-11-14")]
    assert report.skipped == 4
    skipped = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reminder.skipped")
                                 .order_by(AuditEvent.seq)).all()
    reasons = {(e.after["kind"], e.after["level"]): e.after["reason"] for e in skipped}
    assert set(reasons) == {("reminder", 5), ("reminder", 2), ("reminder", 0), ("overdue", 0)}
    assert reasons[("reminder", 5)] == "superseded by the later reminder notice of level 0"
    assert reasons[("reminder", 0)].startswith("its moment passed 98.0 hours ago, more than the 24 hours")
    assert reasons[("overdue", 0)].startswith("its moment passed 26.0 hours ago")
    assert all(e.actor == audit.SYSTEM and e.case_id == make.case_of(campaign, "10001").id for e in skipped)
    assert audit.verify().ok
    # a later sweep neither re-sends nor re-records
    again = _run(db, local(11, 14, 11))
    assert again.enqueued == 0 and again.skipped == 0


def test_after_downtime_only_the_latest_due_notice_of_a_kind_is_sent(make, db, campaign):
    campaign.reminders = {**POLICY, "catch_up_hours": 200}
    db.session.commit()
    _run(db, local(11, 10, 12))  # the 5-, 2- and 0-day reminders are all within 200 hours
    assert _messages(db) == [("reminder", 0, f"officer10001@{K}", "2023-11-10")]
    skipped = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reminder.skipped")).all()
    assert sorted(e.after["level"] for e in skipped) == [2, 5]


def test_overdue_within_the_catch_up_window_is_still_sent(make, db, campaign):
    _run(db, local(11, 10, 8))
    _run(db, local(11, 13, 20))  # the scheduler was down from Friday to Monday evening
    assert _messages(db)[-1] == ("overdue", 0, f"officer10001@{K}", "2023-11-13")


def test_a_case_returned_for_revision_gets_reminders_for_its_revision_deadline(make, db, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.appraisal)
    cases.fire(case, "return_for_revision", make.secretariat, now=local(11, 2).astimezone(dt.UTC),
               reason="Thiếu tài liệu kiểm chứng 1.1.1", revision_due=dt.date(2023, 11, 20))
    db.session.commit()
    returned = [("notice", 1, f"officer10001@{K}", "2023-11-02")]  # the return itself, told at once
    report = _run(db, local(11, 10, 9))  # the original self-assessment deadline is completed: nothing
    assert report.enqueued == 0
    assert _messages(db) == returned
    report = _run(db, local(11, 13, 8))  # 5 working days before Mon 20/11
    revision = _deadline(db, make, campaign)
    assert revision.kind == "revision"
    assert report.keys == [f"reminder:case={case.id}:deadline={revision.id}:level=5:to=officer10001@{K}"]
    assert _messages(db) == returned + [("reminder", 5, f"officer10001@{K}", "2023-11-13")]
    msg = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
    assert "20/11/2023" in msg.subject


def test_the_message_says_what_is_missing_and_how_late(make, db, campaign):
    _run(db, local(11, 13, 8))
    msg = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "overdue")).one()
    assert msg.locale == "vi" and "10/11/2023" in msg.body_text


def test_sweep_can_be_limited_to_one_campaign(make, db, campaign):
    other = make.campaign(key="other-2023", communes=("20001",))
    other.reminders = dict(POLICY)
    db.session.commit()
    make.advance(make.case_of(other, "20001"), Stage.self_assessment)
    _run(db, local(11, 3), campaign=other)
    assert [m[2] for m in _messages(db)] == ["officer20001@other-2023.example.vn"]
    _run(db, local(11, 3))
    assert len(_messages(db)) == 2


def test_last_completed_sweep_is_stored(db, campaign):
    ran = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    _run(db, local(11, 3), ran_at=ran)
    state = db.session.get(SchedulerState, "sweep")
    assert state.last_as_of == local(11, 3).astimezone(dt.UTC)
    assert state.last_completed_at == ran


def test_nothing_due_is_one_indexed_query(db, campaign, dialect):
    _run(db, local(11, 3))
    statements = []

    def log(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", log)
    try:
        report = sweep(now=local(11, 4).astimezone(dt.UTC))
    finally:
        event.remove(db.engine, "before_cursor_execute", log)
    db.session.commit()
    assert report.deadlines == 0
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len([s for s in selects if "FROM deadlines" in s]) == 1
    assert all("FROM deadlines" in s or "FROM scheduler_state" in s for s in selects)
    if dialect == "sqlite":
        finder = next(s for s in selects if "FROM deadlines" in s)
        plan = db.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + finder, (local(11, 4).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),)
        ).all()
        assert "ix_deadlines_next_notice_at" in " ".join(str(r) for r in plan)


def test_delivered_mail_is_exactly_what_the_sweeps_queued(app, make, db, campaign):
    from notifications import delivery
    from tests.notifications.conftest import SMTPServer

    server = SMTPServer()
    server.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_SUPPRESS_SEND=False,
                      MAIL_TIMEOUT=5, PUBLIC_BASE_URL="https://cchc.example.vn")
    try:
        at = local(11, 1, 12)
        while at <= local(11, 20):
            _run(db, at)
            delivery.deliver(now=at.astimezone(dt.UTC))
            at += dt.timedelta(hours=12)
        received = sorted(m["To"] for m in server.messages)
        subjects = [m["Subject"] for m in server.messages]
    finally:
        server.stop()
    # 3 reminders and the overdue notice to the officer, escalation 1 to chair and head, 2 to the leader
    assert received == sorted([f"officer10001@{K}"] * 4 + [f"chair10001@{K}", f"head@{K}", f"leader@{K}"])
    assert all("10/11/2023" in s for s in subjects)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.status != "sent")) == 0


def test_each_message_carries_the_facts_as_of_the_sweep(make, db, campaign):
    seen = []

    def record(**kw):  # an outbox stand-in passed in explicitly, to read what the sweep hands over
        seen.append(kw)
        return True

    case = make.case_of(campaign, "10001")
    sweep(now=local(11, 3).astimezone(dt.UTC), enqueue=record)
    sweep(now=local(11, 13).astimezone(dt.UTC), enqueue=record)
    db.session.commit()
    first, overdue = seen[0], seen[-1]
    assert (first["kind"], first["level"], first["recipient"].email) == ("reminder", 5, f"officer10001@{K}")
    assert first["scheduled_for"] == local(11, 3).astimezone(dt.UTC)
    assert first["facts"]["working_days_left"] == 5 and first["facts"]["days_late"] == 0
    assert first["facts"]["due"] == dt.date(2023, 11, 10) and first["facts"]["stage"] == "self_assessment"
    assert first["facts"]["case_id"] == case.id and first["facts"]["campaign_key"] == "tiny-2023"
    assert first["facts"]["commune_name"] == "Xã 10001"
    # nothing scored yet: readiness of 'submit' lists every self-assessed sub-criterion
    assert {m.split(":")[0] for m in first["facts"]["missing"]} >= {"1.1.1", "1.1.2", "2.1.1"}
    assert (overdue["kind"], overdue["level"]) == ("overdue", 0)
    assert overdue["facts"]["working_days_left"] == -1 and overdue["facts"]["days_late"] == 3
    assert overdue["deadline"].stage == "self_assessment" and overdue["case"].id == case.id


def test_a_reopened_deadline_does_not_repeat_what_was_sent_or_recorded(make, db, campaign):
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.council_meeting)
    for day in (4, 7, 11):  # council due Sun 10/12 -> Mon 11/12: reminders 4/12, 7/12, 11/12
        _run(db, dt.datetime(2023, 12, day, 8, tzinfo=HN))
    council = [m for m in _messages(db) if m[3] >= "2023-12-04"]
    assert council == [("reminder", 5, f"council0@{K}", "2023-12-04"), ("reminder", 2, f"council0@{K}", "2023-12-07"),
                       ("reminder", 0, f"council0@{K}", "2023-12-11")]
    make.advance(case, Stage.publication, now=dt.datetime(2023, 12, 11, 10, tzinfo=HN).astimezone(dt.UTC))
    cases.fire(case, "reopen", make.admin, now=dt.datetime(2023, 12, 20, 8, 30, tzinfo=HN).astimezone(dt.UTC),
               reason="Sai sót khi tổng hợp điểm")
    db.session.commit()
    assert _deadline(db, make, campaign, "council_meeting").next_notice_at == dt.datetime(
        2023, 12, 4, 1, tzinfo=dt.UTC)
    report = _run(db, dt.datetime(2023, 12, 20, 9, tzinfo=HN))
    assert report.enqueued == 0  # the reminders went out before the reopening
    assert report.skipped == 3  # overdue 12/12 and escalation 2 of 18/12 too old; escalation 1 superseded
    assert len(_messages(db)) == 3  # nothing new
    again = _run(db, dt.datetime(2023, 12, 20, 9, tzinfo=HN))
    assert again.deadlines == 0


def test_in_batches_each_batch_commits_its_messages_with_its_deadlines(make, db, campaign):
    make.advance(make.case_of(campaign, "10002"), Stage.self_assessment)
    commits = []

    def commit():
        # what a batch commits: its messages and the move of its deadlines, together
        commits.append((db.session.scalar(select(func.count()).select_from(OutboxMessage)),
                        db.session.scalar(select(func.count()).select_from(Deadline).where(
                            Deadline.next_notice_at <= local(11, 3).astimezone(dt.UTC)))))
        db.session.commit()

    report = sweep(now=local(11, 3).astimezone(dt.UTC), batch=1, commit=commit)
    assert report.batches == 2 and report.enqueued == 2
    # after the first batch one deadline is done (1 message) and one still due; then none; then the state row
    assert commits == [(1, 1), (2, 0), (2, 0)]
    assert sorted(m[2] for m in _messages(db)) == [f"officer10001@{K}", f"officer10002@{K}"]
    assert db.session.get(SchedulerState, "sweep").last_as_of == local(11, 3).astimezone(dt.UTC)


def test_a_batch_that_fails_leaves_the_committed_batches_and_nothing_else(make, db, campaign):
    make.advance(make.case_of(campaign, "10002"), Stage.self_assessment)
    from notifications.outbox import enqueue as real_enqueue

    calls = []

    def enqueue(**kw):
        calls.append(kw["key"])
        if len(calls) == 2:
            raise RuntimeError("the process dies here")
        return real_enqueue(**kw)

    with pytest.raises(RuntimeError):
        sweep(now=local(11, 3).astimezone(dt.UTC), batch=1, commit=db.session.commit, enqueue=enqueue)
    db.session.rollback()
    assert len(_messages(db)) == 1
    # the second deadline is still due: the next sweep queues its message, and only it
    report = _run(db, local(11, 3, 8, 5))
    assert report.enqueued == 1 and report.deadlines == 1
    assert sorted(m[2] for m in _messages(db)) == [f"officer10001@{K}", f"officer10002@{K}"]
