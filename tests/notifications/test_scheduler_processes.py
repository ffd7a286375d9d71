"""Real scheduler processes (``flask scheduler run`` as child processes), a real SMTP server, a real database.

Two processes at once, and a process killed with SIGKILL then restarted: every reminder reaches the
SMTP server exactly once, the outbox holds each key once and all sent, one ``notification.sent``
audit event per message, and the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sqlite3
import threading
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select, text

from models import AuditEvent, Deadline, OutboxMessage
from tests.notifications.conftest import Collector, SMTPServer
from tests.notifications.processes import (
    build_load,
    finish,
    output_of,
    queued_by,
    scheduler_env,
    start_scheduler,
    wait_for,
)
from workflow import audit
from workflow.clock import utcnow

FAST = ("--sweep-every", "1", "--deliver-every", "0.5")


def _scalar(db, stmt):
    """Read committed state as it is now (a fresh transaction each time, also on SQLite's WAL)."""
    try:
        return db.session.scalar(stmt)
    finally:
        db.session.rollback()


def _outbox_count(db, **where):
    stmt = select(func.count()).select_from(OutboxMessage)
    for column, value in where.items():
        stmt = stmt.where(getattr(OutboxMessage, column) == value)
    return _scalar(db, stmt)


def _due_deadlines(db):
    return _scalar(db, select(func.count()).select_from(Deadline).where(
        Deadline.completed_at.is_(None), Deadline.next_notice_at <= utcnow()))


def _assert_each_message_exactly_once(db, smtp, load):
    """At the SMTP server, in the outbox and in the audit log: every expected key once, nothing else."""
    received = Counter(str(m["X-CCHC-Outbox-Key"]).strip() for m in smtp.messages)
    assert set(received) == load.keys
    assert [k for k, n in received.items() if n > 1] == []
    assert len({m["Message-ID"] for m in smtp.messages}) == len(load.keys)
    db.session.expire_all()
    rows = db.session.execute(select(OutboxMessage.key, OutboxMessage.status)).all()
    assert len(rows) == len(load.keys) and {k for k, _ in rows} == load.keys
    assert {s for _, s in rows} == {"sent"}
    sent = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "notification.sent")).all()
    assert sorted(e.after["key"] for e in sent) == sorted(load.keys)
    # the 5-day reminder of each deadline was superseded: recorded once per deadline, not once per try
    skipped = db.session.scalars(select(AuditEvent.subject).where(AuditEvent.action == "reminder.skipped")).all()
    assert len(skipped) == len(set(skipped)) == len(load.deadline_ids)
    assert audit.verify().ok
    return sent


def _waiting_on_locks(engine, names) -> int:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY(:names) "
            "AND datname = current_database() AND wait_event_type = 'Lock'"), {"names": list(names)}).scalar()


def _sessions_of(engine, name) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n "
                                 "AND datname = current_database()"), {"n": name}).scalar()


def _stop_all(*procs):
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_two_scheduler_processes_share_the_work_and_send_each_message_once(
        app, db, make, smtp, database_url, dialect, tmp_path):
    if dialect != "postgresql":
        pytest.skip("two scheduler processes at once rely on PostgreSQL's row locks (SKIP LOCKED); "
                    "SQLite serialises writers and is not supported for fail-over")
    load = build_load(make, communes=100, officers_per_commune=3)
    db.session.close()
    names = ("sched-a", "sched-b")
    watcher = create_engine(database_url, isolation_level="AUTOCOMMIT")
    gate_engine = create_engine(database_url)
    gate = gate_engine.connect()
    # hold the audit chain's head: each sweep batch records a skipped notice first and waits here, so
    # both processes are provably inside a sweep, on different deadlines, at the same time
    gate.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))
    procs = []
    try:
        for name in names:
            procs.append(start_scheduler(scheduler_env(database_url, smtp.port, tmp_path, name), tmp_path, name,
                                         *FAST, "--sweep-batch", "10", "--deliver-batch", "10",
                                         "--jobs", "sweep,deliver", "--exit-when-drained"))
        wait_for(lambda: _waiting_on_locks(watcher, names) == 2, timeout=60, every=0.05,
                 what="both processes inside their first sweep batch", procs=procs)
        gate.rollback()
        outputs = [finish(proc, timeout=120, tmp_path=tmp_path, name=name) for proc, name in zip(procs, names, strict=True)]
    finally:
        gate.close()
        gate_engine.dispose()
        _stop_all(*procs)
        watcher.dispose()

    sent = _assert_each_message_exactly_once(db, smtp, load)
    # both processes swept (the deadlines were shared, not done twice) and both delivered
    queued = [queued_by(out) for out in outputs]
    assert all(n > 0 for n in queued) and sum(queued) == len(load.keys), queued
    senders = Counter(e.after["by"] for e in sent)
    assert len(senders) == 2, senders
    assert all(e.after["attempt"] == 1 for e in sent)


class _Holder:
    """Stops the scheduler's next write without touching its process: a lock the test holds."""

    def __init__(self, database_url: str, dialect: str):
        self.dialect, self.url = dialect, database_url
        self.conn = None

    def hold(self) -> None:
        if self.dialect == "sqlite":
            # SQLite has one writer: the next batch's first write waits (busy timeout) behind this
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.engine = create_engine(self.url)
            self.conn = self.engine.connect()
            # SHARE conflicts with the ROW EXCLUSIVE lock that an INSERT takes
            self.conn.execute(text("LOCK TABLE outbox_messages IN SHARE MODE"))

    def release(self) -> None:
        if self.conn is None:
            return
        self.conn.rollback()
        self.conn.close()
        if self.dialect != "sqlite":
            self.engine.dispose()
        self.conn = None


def test_a_scheduler_killed_mid_sweep_and_restarted_sends_each_message_once(
        app, db, make, smtp, database_url, dialect, tmp_path):
    """SIGKILL in the middle of a sweep, then a restart: each reminder is delivered exactly once.

    Why exactly-once holds:

    - the sweep commits one transaction per batch of deadlines, holding both the batch's outbox
      rows and the advance of those deadlines' ``next_notice_at``: the kill leaves the committed
      batches fully done and the interrupted one untouched (rolled back by the database), so the
      restart sweeps exactly the deadlines that are still due, and queues each message once;
    - every message has a unique outbox key (case, deadline, kind, level, recipient): even a
      decision taken twice could not queue it twice;
    - delivery claims rows before sending; a row claimed by a process that dies before sending is
      taken again only after its lease lapses (see the next test), and a sent row is never re-claimed.

    "In the middle" is made real: many deadlines in small batches; as soon as the first batch has
    committed, the test takes a lock that makes the process's next write wait, checks that some
    messages are queued while deadlines are still due, and kills the process while it waits.
    """
    # enough batches (120 of 2 deadlines) that the sweep cannot finish between noticing the first commit
    # and taking the lock, even on an idle machine (40 deadlines once did, on SQLite)
    load = build_load(make, communes=240, officers_per_commune=1)
    db.session.close()
    total = len(load.keys)
    killed = start_scheduler(scheduler_env(database_url, smtp.port, tmp_path, "sched-killed"), tmp_path, "killed",
                             "--sweep-every", "1", "--sweep-batch", "2", "--jobs", "sweep")
    holder = _Holder(database_url, dialect)
    restarted = None
    try:
        wait_for(lambda: _outbox_count(db) > 0, timeout=60, what="the first committed sweep batch",
                 procs=[killed])
        holder.hold()
        queued_before_kill = _outbox_count(db)
        due_before_kill = _due_deadlines(db)
        assert 0 < queued_before_kill < total and due_before_kill > 0, (queued_before_kill, due_before_kill)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert killed.returncode == -signal.SIGKILL
    finally:
        holder.release()
        _stop_all(killed)
    # the interrupted batch was rolled back, nothing more: what was committed is still exactly there
    assert _outbox_count(db) == queued_before_kill and _due_deadlines(db) == due_before_kill
    assert smtp.messages == []  # this process only swept
    if dialect == "postgresql":
        watcher = create_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            wait_for(lambda: _sessions_of(watcher, "sched-killed") == 0, timeout=30,
                     what="the killed process's database session to end")
        finally:
            watcher.dispose()

    try:
        restarted = start_scheduler(scheduler_env(database_url, smtp.port, tmp_path, "sched-restarted"),
                                    tmp_path, "restarted", *FAST, "--sweep-batch", "2", "--jobs", "sweep,deliver",
                                    "--exit-when-drained")
        out = finish(restarted, timeout=120, tmp_path=tmp_path, name="restarted")
    finally:
        _stop_all(restarted)
    assert "Traceback" not in output_of(tmp_path, "killed")
    assert queued_by(out) == total - queued_before_kill  # the restart queued only what was missing
    _assert_each_message_exactly_once(db, smtp, load)


class _GatedCollector(Collector):
    """Holds the first SMTP session at MAIL FROM until released: messages are claimed but not yet sent."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if not self.release.is_set():
            self.entered.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return await super().handle_MAIL(server, session, envelope, address, mail_options)


def test_messages_claimed_by_a_killed_process_are_sent_once_after_the_lease(
        app, db, make, database_url, dialect, tmp_path):
    """SIGKILL in the middle of a delivery batch (claimed, not sent): the restart sends them after the lease."""
    from workflow import sweep

    load = build_load(make, communes=10, officers_per_commune=2)
    sweep.sweep(now=utcnow())
    db.session.commit()
    db.session.close()
    server = SMTPServer()
    server.handler = _GatedCollector()
    server.start()
    lease = 3
    killed = restarted = None
    try:
        env = scheduler_env(database_url, server.port, tmp_path, "sched-deliver")
        killed = start_scheduler(env, tmp_path, "killed", *FAST, "--deliver-batch", "5", "--jobs", "deliver",
                                 "--claim-lease", str(lease))
        assert server.handler.entered.wait(60), output_of(tmp_path, "killed")
        claimed = db.session.execute(select(OutboxMessage.id, OutboxMessage.next_attempt_at).where(
            OutboxMessage.attempts == 1, OutboxMessage.status == "queued")).all()
        db.session.rollback()
        assert len(claimed) == 5 and _outbox_count(db, status="sent") == 0
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        server.handler.release.set()  # the dead client's session goes nowhere

        restarted = start_scheduler(env, tmp_path, "restarted", *FAST, "--deliver-batch", "5", "--jobs", "deliver",
                                    "--claim-lease", str(lease), "--exit-when-drained")
        finish(restarted, timeout=90, tmp_path=tmp_path, name="restarted")
    finally:
        server.handler.release.set()
        _stop_all(*(p for p in (killed, restarted) if p is not None))
        server.stop()

    # the swept 5-day reminders are skipped once per deadline, as in the other tests
    _assert_each_message_exactly_once(db, server, load)
    for row_id, lease_until in claimed:
        row = db.session.get(OutboxMessage, row_id)
        # taken again only once the dead process's lease had lapsed, and sent on that second attempt
        assert row.attempts == 2 and row.sent_at >= lease_until - dt.timedelta(seconds=0.5)
    others = db.session.scalars(select(OutboxMessage.attempts).where(
        OutboxMessage.id.not_in([r for r, _ in claimed]))).all()
    assert set(others) == {1}
