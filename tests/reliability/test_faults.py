"""Faults: a database connection dropped mid-transition, an SMTP server that refuses, stalls and comes
back, a scheduler killed with SIGKILL twenty times during sweeps, and a full evidence store.

Each fault is real (pg_terminate_backend, an aiosmtpd server answering what the test says, SIGKILL of a
``flask scheduler run`` process, RLIMIT_FSIZE on a gunicorn server) and each test checks what was left
behind: nothing half-written, every message delivered exactly once, no orphan row or partial file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import re
import resource
import signal
import threading
import time
from collections import Counter

import pytest
from flask import current_app
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from models import AuditEvent, Case, Evidence, OutboxMessage, User
from notifications import delivery
from states import Stage
from tests.conftest import NOW
from tests.notifications.conftest import Collector, SMTPServer, queue
from tests.notifications.processes import build_load, scheduler_env, wait_for
from tests.notifications.test_scheduler_processes import _assert_each_message_exactly_once
from tests.web.helpers import PASSWORD, csrf_of, version_of
from workflow import api_tokens, audit, cases, txn
from workflow.clock import utcnow

from .load_forker import Forker
from .load_server import Browser, call, multipart, pdf, start_gunicorn

# --- the database connection dropped in the middle of a transition -----------------------------------

SNAPSHOT_TABLES = ("cases", "deadlines", "outbox_messages", "audit_events", "audit_head", "scores", "sign_offs")


def _snapshot(engine) -> dict:
    """Every row of the tables a transition may touch, as committed now."""
    with engine.connect() as conn:
        return {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}")).all()), key=repr)
                for t in SNAPSHOT_TABLES}


def test_a_connection_dropped_mid_transition_leaves_nothing_half_written(app, db, make, database_url, dialect):
    if dialect != "postgresql":
        pytest.skip("pg_terminate_backend drops a PostgreSQL server session; an embedded SQLite database has "
                    "no connection to drop (its crash case is the scheduler SIGKILL test below)")
    campaign = make.campaign(key="drop")
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    make.fill_self(case)
    db.session.commit()
    case_id, officer_id = case.id, make.officers["10001"].id
    db.session.close()
    watcher = create_engine(database_url, isolation_level="AUTOCOMMIT")
    before = _snapshot(watcher)
    holder_engine = create_engine(database_url)
    holder = holder_engine.connect()
    flask_app = current_app._get_current_object()
    seen: dict = {}

    def firing():
        with flask_app.app_context():
            try:
                seen["pid"] = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
                mine = db.session.get(Case, case_id)
                cases.fire(mine, "submit", db.session.get(User, officer_id), now=utcnow(),
                           expected_version=mine.version)
                txn.commit()
                seen["outcome"] = "committed"
            except DBAPIError as exc:
                seen["outcome"] = exc
            finally:
                db.session.remove()

    try:
        # the audit chain's head: the transition writes the case, then waits here to append its event
        holder.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))
        thread = threading.Thread(target=firing)
        thread.start()

        def mid_transaction():
            if "pid" not in seen:
                return None
            with watcher.connect() as conn:
                return conn.execute(text(
                    "SELECT backend_xid IS NOT NULL FROM pg_stat_activity "
                    "WHERE pid = :pid AND wait_event_type = 'Lock' AND xact_start IS NOT NULL"),
                    {"pid": seen["pid"]}).scalar()

        # waiting on our lock, inside a transaction that has already written (it holds a transaction id)
        wait_for(mid_transaction, timeout=30, what="the transition to wait mid-transaction on the audit head")
        with watcher.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": seen["pid"]}).scalar()
        thread.join(timeout=30)
        assert not thread.is_alive()
    finally:
        holder.rollback()
        holder.close()
        holder_engine.dispose()
    assert isinstance(seen["outcome"], DBAPIError), seen["outcome"]
    assert seen["outcome"].connection_invalidated  # recognised as a lost connection, not reused
    assert _snapshot(watcher) == before  # stage, audit, deadlines, outbox, scores: all as before

    # the next attempt (a new connection from the same pool) succeeds, once
    case = db.session.get(Case, case_id)
    result = cases.fire(case, "submit", db.session.get(User, officer_id), now=utcnow(), expected_version=case.version)
    txn.commit()
    assert result.fired and db.session.get(Case, case_id).stage == Stage.appraisal.value
    after = _snapshot(watcher)
    watcher.dispose()
    assert len(after["audit_events"]) > len(before["audit_events"])
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "case.transition", AuditEvent.subject == "submit")) == 1
    assert audit.verify().ok


def test_a_connection_dropped_mid_request_is_a_clean_error_and_the_server_recovers(
        app, db, make, database_url, dialect, tmp_path):
    if dialect != "postgresql":
        pytest.skip("pg_terminate_backend drops a PostgreSQL server session; SQLite has none")
    campaign = make.campaign(key="drop-http")
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    make.fill_self(case)
    _row, token = api_tokens.create_token(make.officers["10001"], "drop", now=utcnow())
    db.session.commit()
    case_id, version = case.id, case.version
    db.session.close()
    server = start_gunicorn(database_url, tmp_path, workers=1, threads=4, name="drop")
    watcher = create_engine(database_url, isolation_level="AUTOCOMMIT")
    holder_engine = create_engine(database_url)
    holder = holder_engine.connect()
    replies = {}
    try:
        before = _snapshot(watcher)
        holder.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))
        request = threading.Thread(target=lambda: replies.setdefault("first", call(
            server, "POST", f"/api/v1/cases/{case_id}/transitions/submit", token=token,
            headers={"If-Match": f'"v{version}"'}, json_body={})))
        request.start()

        def waiting_backend():
            with watcher.connect() as conn:
                return conn.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = :name AND wait_event_type = 'Lock' "
                    "AND backend_xid IS NOT NULL"), {"name": server.application_name}).scalar()

        pid = wait_for(waiting_backend, timeout=60, what="the request's transaction to wait on the audit head")
        with watcher.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        request.join(timeout=60)
        holder.rollback()
        first = replies["first"]
        # the request was not carried out, and says so without a stack trace
        assert first.status == 503 and first.headers["content-type"].startswith("application/problem+json")
        assert first.headers["retry-after"] == "5"
        assert "not carried out" in first.json()["detail"] and "Traceback" not in first.body.decode()
        assert _snapshot(watcher) == before
        # the same server, the same If-Match: the pool replaced the dead connection and the submit goes through
        again = call(server, "POST", f"/api/v1/cases/{case_id}/transitions/submit", token=token,
                     headers={"If-Match": f'"v{version}"'}, json_body={})
        assert again.status == 200 and again.json()["fired"], again.body
    finally:
        holder.close()
        holder_engine.dispose()
        watcher.dispose()
        server.stop()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "case.transition", AuditEvent.subject == "submit")) == 1
    assert audit.verify().ok


# --- an SMTP server that refuses, stalls, goes away and comes back -------------------------------------

class _Moody(Collector):
    """Answers as ``mode`` says: refuse at MAIL (4xx or 5xx), refuse odd messages at DATA, or stall."""

    def __init__(self):
        super().__init__()
        self.mode = "ok"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mode == "421":
            return "421 4.3.2 Service not available, closing channel"
        if self.mode == "550-sender":
            return "550 5.7.1 Sender not allowed (relay misconfigured)"
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "stall":
            await asyncio.sleep(3)  # far past the client's MAIL_TIMEOUT: it gives up before any DATA
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "451-odd" and b"X-CCHC-Outbox-Key: fault-" in envelope.content:
            key = re.search(rb"X-CCHC-Outbox-Key: fault-(\d+)", envelope.content)[1]
            if int(key) % 2:
                return "451 4.3.0 Mailbox busy, try again later"
        return await super().handle_DATA(server, session, envelope)


def test_smtp_refusing_stalling_and_coming_back_delivers_every_message_once(app, db, make):
    campaign = make.campaign(key="smtp")
    case = make.case_of(campaign, "10001")
    keys = [f"fault-{i}" for i in range(6)]
    for key in keys:
        queue(case, make.officers["10001"], key=key)
    db.session.commit()
    server = SMTPServer()
    server.handler = _Moody()
    server.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_SUPPRESS_SEND=False, MAIL_TIMEOUT=0.5,
                      PUBLIC_BASE_URL="https://cchc.example.vn")
    now = NOW
    sent_by_phase = {}
    try:
        # each phase one delivery run, an hour apart (past any back-off); the last attempt is the sixth
        for phase in ("421", "550-sender", "451-odd", "stall", "down", "ok"):
            if phase == "down":
                server.stop()
            elif server.controller is None:
                server.start()
            server.handler.mode = phase
            report = delivery.deliver(now=now)
            sent_by_phase[phase] = report.sent
            now += dt.timedelta(hours=1)
        assert delivery.deliver(now=now + dt.timedelta(days=1)).claimed == 0  # nothing left to send
    finally:
        server.stop()

    assert sent_by_phase == {"421": 0, "550-sender": 0, "451-odd": 3, "stall": 0, "down": 0, "ok": 3}
    received = Counter(str(m["X-CCHC-Outbox-Key"]).strip() for m in server.messages)
    assert received == Counter(keys)  # each exactly once, nothing else
    assert len({m["Message-ID"] for m in server.messages}) == len(keys)
    assert all(m["Subject"] and m.get_body(("plain",)).get_content().strip() for m in server.messages)
    db.session.expire_all()
    rows = {r.key: r for r in db.session.scalars(select(OutboxMessage))}
    assert {r.status for r in rows.values()} == {"sent"}
    # even keys went out on the 3rd try (after 421 and 550); odd ones on the 6th and last allowed
    assert {k: r.attempts for k, r in rows.items()} == {k: 3 if int(k[-1]) % 2 == 0 else 6 for k in keys}
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("notification.%"))).all()
    assert sorted(e.after["key"] for e in events if e.action == "notification.sent") == sorted(keys)
    assert not [e for e in events if e.action == "notification.failed"]
    assert audit.verify().ok


# --- the scheduler killed with SIGKILL at random moments during sweeps, twenty times --------------------

def test_a_scheduler_killed_twenty_times_during_sweeps_still_delivers_each_reminder_once(
        app, db, make, database_url, dialect, tmp_path):
    seed = int(os.environ.get("FAULT_SEED", str(random.SystemRandom().randrange(10**6))))
    print(f"\nSIGKILL test seed: {seed} (FAULT_SEED={seed} repeats it)")
    rng = random.Random(seed)
    load = build_load(make, communes=80, officers_per_commune=1, key="kill")
    db.session.close()
    server = SMTPServer()
    server.start()

    def committed():
        """Reminders queued (one per committed sweep batch here), and the audit chain's length."""
        try:
            return (db.session.scalar(select(func.count()).select_from(OutboxMessage)),
                    db.session.scalar(text("SELECT seq FROM audit_head WHERE id = 1")))
        finally:
            db.session.rollback()

    clock = time.monotonic()
    forker = Forker(scheduler_env(database_url, server.port, tmp_path, "forked"), tmp_path / "forker.log",
                    warm_up=True)
    phases = [f"fork server ready {time.monotonic() - clock:.1f} s"]
    kills = []
    try:
        for round_ in range(20):
            target = min(committed()[0] + rng.randint(1, 2), len(load.keys))
            # a short interval also makes the first sweep start 0.2 s after the fork
            pid = forker.fork(tmp_path / f"killed-{round_}.log", "--sweep-every", "0.2", "--sweep-batch", "1",
                              "--jobs", "sweep")
            # once this process has committed one or two sweep batches (one reminder each), a random
            # moment later: between two batches, or inside the next one
            wait_for(lambda q=target: committed()[0] >= q, timeout=60, every=0.005,
                     what=f"round {round_}: the process's sweep batches")
            time.sleep(rng.uniform(0, 0.01))
            os.kill(pid, signal.SIGKILL)
            assert forker.reap(pid) == -signal.SIGKILL
            kills.append(committed()[0])
        phases.append(f"20 kills {time.monotonic() - clock:.1f} s")
        print(f"queued after each kill: {kills} of {len(load.keys)}")
        # at least half the kills struck while reminders were still to be queued, i.e. during the sweep
        assert sum(1 for n in kills if n < len(load.keys)) >= 10, kills
        assert server.messages == []  # the killed processes only swept
        # then one left to finish: it sweeps what is left, delivers everything and exits when drained
        final = forker.fork(tmp_path / "final.log", "--sweep-every", "0.5", "--deliver-every", "0.5",
                            "--sweep-batch", "10", "--jobs", "sweep,deliver", "--exit-when-drained")
        assert forker.reap(final) == 0, (tmp_path / "final.log").read_text()[-3000:]
        assert "Traceback" not in (tmp_path / "final.log").read_text()
        phases.append(f"drained {time.monotonic() - clock:.1f} s")
        print("; ".join(phases))
    finally:
        forker.close()
        server.stop()
    _assert_each_message_exactly_once(db, server, load)


# --- a full evidence store ---------------------------------------------------------------------------

FILE_LIMIT = 128 * 1024  # bytes any one file of the server may reach (RLIMIT_FSIZE)


def _limit_file_size():
    """In the server process, before exec: files may not grow past FILE_LIMIT; past it, writes fail
    with EFBIG (SIGXFSZ, which would kill the process, is ignored) -- the OS refusing, as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def test_a_full_evidence_store_refuses_clearly_and_keeps_nothing(app, db, world, database_url, dialect, tmp_path):
    if dialect != "postgresql":
        pytest.skip("the file-size limit covers every file the server writes, SQLite's database file included; "
                    "with PostgreSQL only the evidence store is affected")
    make = world
    case = make.case_of(make.campaign_obj, "10001")
    case_id, version = case.id, case.version
    _row, token = api_tokens.create_token(make.officers["10001"], "fault", now=utcnow())
    db.session.commit()
    email = make.officers["10001"].email
    events_before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    db.session.close()
    big = pdf("too big for the store", size=3 * FILE_LIMIT)  # under the upload limits, over what fits
    server = start_gunicorn(database_url, tmp_path, workers=1, threads=2, name="full", preexec_fn=_limit_file_size)
    try:
        # the API: 422 problem naming the file, the case unchanged
        body, content_type = multipart({"code": "1.1.1"}, "file", "ke-hoach.pdf", big, "application/pdf")
        api = call(server, "POST", f"/api/v1/cases/{case_id}/evidence", token=token,
                   headers={"If-Match": f'"v{version}"', "Content-Type": content_type}, body=body)
        assert api.status == 422, (api.status, api.body, server.output()[-2000:])
        problem = api.json()
        assert problem["type"].endswith("/storage-unavailable")
        assert "could not be stored" in problem["detail"] and "ke-hoach.pdf" in problem["detail"]
        assert problem["errors"] == {"file": ["the evidence store is unavailable"]}

        # the page: the refusal shown beside the item, in Vietnamese
        browser = Browser(server)
        page = browser.request("GET", "/login")
        login = browser.form("/login", {"email": email, "password": PASSWORD,
                                        "csrf_token": csrf_of(page.body.decode())})
        assert login.status == 302, login.body[:500]
        form = browser.request("GET", f"/cases/{case_id}/self-assessment")
        assert form.status == 200
        html = form.body.decode()
        body, content_type = multipart({"csrf_token": csrf_of(html), "version": str(version_of(html)),
                                        "code": "2.1.1"}, "files", "niem-yet.pdf", big, "application/pdf")
        posted = browser.request("POST", f"/cases/{case_id}/self-assessment/evidence", body=body,
                                 headers={"Content-Type": content_type})
        assert posted.status == 303, (posted.status, posted.body[:500])
        shown = browser.request("GET", posted.headers["location"].split("#")[0]).body.decode()
        assert "niem-yet.pdf: không lưu được tệp (kho lưu tài liệu kiểm chứng đã đầy hoặc không ghi được)" in shown

        # nothing kept: no row, no event, the case's version unchanged, no file, not even a partial one
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events_before
        assert db.session.get(Case, case_id).version == version
        left = [p for p in server.evidence_dir.rglob("*") if p.is_file()] if server.evidence_dir.exists() else []
        assert left == []

        # a file that fits is still taken: the server survived the refusals
        small = pdf("fits", size=FILE_LIMIT // 4)
        body, content_type = multipart({"code": "1.1.1"}, "file", "ke-hoach.pdf", small, "application/pdf")
        fine = call(server, "POST", f"/api/v1/cases/{case_id}/evidence", token=token,
                    headers={"If-Match": f'"v{version}"', "Content-Type": content_type}, body=body)
        assert fine.status == 201, (fine.status, fine.body)
    finally:
        server.stop()
    assert "could not be stored" not in server.output() or "evidence store refused" in server.output()
    assert "Traceback" not in server.output()
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 1
    assert audit.verify().ok


def test_an_unusable_evidence_store_refuses_clearly_on_any_database(app, db, world, tmp_path):
    """The store's path cannot be created (a file stands where a folder must be: ENOTDIR, a real OS error
    that root cannot override, unlike permissions): the same clear refusal, page and API, on SQLite too."""
    import io

    from tests.web.helpers import logged_in

    make = world
    case = make.case_of(make.campaign_obj, "10001")
    _row, token = api_tokens.create_token(make.officers["10001"], "fault", now=utcnow())
    db.session.commit()
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    app.config["EVIDENCE_DIR"] = str(blocker / "evidence")
    events_before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    version = case.version

    api = app.test_client().post(
        f"/api/v1/cases/{case.id}/evidence", headers={"Authorization": f"Bearer {token}", "If-Match": f'"v{version}"'},
        data={"code": "1.1.1", "file": (io.BytesIO(pdf("api")), "ke-hoach.pdf", "application/pdf")},
        content_type="multipart/form-data")
    assert api.status_code == 422 and api.json["type"].endswith("/storage-unavailable"), api.get_data(as_text=True)
    assert "ke-hoach.pdf" in api.json["detail"]

    browser = logged_in(app, make.officers["10001"])
    html = browser.get(f"/cases/{case.id}/self-assessment").get_data(as_text=True)
    posted = browser.post(f"/cases/{case.id}/self-assessment/evidence", data={
        "csrf_token": csrf_of(html), "version": str(version_of(html)), "code": "2.1.1",
        "files": (io.BytesIO(pdf("page")), "niem-yet.pdf", "application/pdf")},
        content_type="multipart/form-data", follow_redirects=True)
    assert posted.status_code == 200
    assert "niem-yet.pdf: không lưu được tệp (kho lưu tài liệu kiểm chứng đã đầy hoặc không ghi được)" in \
        posted.get_data(as_text=True)

    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events_before
    assert db.session.get(Case, case.id).version == version
    assert blocker.read_bytes() == b"" and list(tmp_path.rglob(".upload-*")) == []
