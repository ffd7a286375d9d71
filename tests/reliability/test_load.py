"""Deadline-day load: 200 officers at once on 1,000 cases, over the API of a real gunicorn server.

For ``LOAD_SECONDS`` (20 by default) 200 users save self scores, upload evidence and submit, case after
case (tests/reliability/load_users.py). Afterwards: no 5xx and no failed request; every save the server
accepted is in the database with its value and its one audit event; every accepted upload is a row and a
stored file with the same SHA-256, and no other row exists; every accepted submit is exactly one
``case.transition`` event and nothing else was submitted; the audit chain verifies. The latencies
(p50/p95/p99) and throughput are printed (run with ``-s`` to see them); nothing asserts on time.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Case, CriteriaItem, Evidence, Score
from workflow import audit
from workflow.clock import utcnow

from .load_data import EVIDENCE_ITEMS, open_cases
from .load_server import start_gunicorn
from .load_users import Ledger, summary, work

USERS = int(os.environ.get("LOAD_USERS", "200"))
CASES = int(os.environ.get("LOAD_CASES", "1000"))
SECONDS = float(os.environ.get("LOAD_SECONDS", "20"))
SEED = int(os.environ.get("LOAD_SEED", "8"))


def test_deadline_day_load_loses_nothing(app, db, make, database_url, dialect, tmp_path):
    if dialect != "postgresql":
        pytest.skip("the load test runs gunicorn's several worker processes against PostgreSQL, the production "
                    "database; SQLite serialises every writer, so the figures would say nothing about production")
    evidence_dir = tmp_path / "load-evidence"
    clock = time.monotonic()
    seats, prefilled = open_cases(make, communes=CASES, evidence_dir=evidence_dir)
    db.session.close()
    built = time.monotonic() - clock
    server = start_gunicorn(database_url, tmp_path, workers=4, threads=4, name="load", evidence_dir=evidence_dir)
    print(f"\n{CASES} cases built in {built:.1f} s; gunicorn up in {time.monotonic() - clock - built:.1f} s")
    pending: queue.Queue = queue.Queue()
    for seat in random.Random(SEED).sample(seats, len(seats)):
        pending.put(seat)
    ledger = Ledger()
    prefilled_evidence = sum(len(EVIDENCE_ITEMS) for seat in seats if seat.evidenced)
    started_at = utcnow()
    print(f"load test: seed {SEED}, {USERS} users, {CASES} cases, {SECONDS} s")
    try:
        started = time.monotonic()
        stop_at = started + SECONDS
        users = [threading.Thread(target=work, args=(server, pending, stop_at, ledger, random.Random(SEED * 1000 + i)))
                 for i in range(USERS)]
        for user in users:
            user.start()
        for user in users:
            user.join(timeout=SECONDS + 180)
        elapsed = time.monotonic() - started
        assert not any(u.is_alive() for u in users), "a user was still waiting for the server"
    finally:
        server.stop()
    report = summary(ledger, elapsed, USERS, CASES)
    print(report)

    statuses = Counter(status for _op, status, _s in ledger.replies)
    assert not [s for s in statuses if s >= 500], (statuses, server.output()[-3000:])
    assert ledger.errors == [], ledger.errors[:10]
    assert ledger.unexpected == [], ledger.unexpected[:10]
    assert ledger.save_count and ledger.evidence and ledger.submits, report  # the run did each kind of work
    assert "Traceback" not in server.output(), server.output()[-3000:]

    db.session.expire_all()
    # every accepted save is there, with its value and exactly one audit event per accepted save
    stored = {(case_id, code): score for case_id, code, score in db.session.execute(
        select(Score.case_id, CriteriaItem.code, Score.self_score).join(CriteriaItem, CriteriaItem.id == Score.item_id)
        .where(Score.self_score.is_not(None)))}
    assert stored == {**prefilled, **ledger.saves}
    score_events = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.action == "score.changed"))
    assert score_events == ledger.save_count

    # every accepted upload is a row and a file with the same content; there is no other row
    rows = {row.id: row for row in db.session.scalars(select(Evidence).where(Evidence.uploaded_at >= started_at))}
    assert set(rows) == set(ledger.evidence)
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == len(rows) + prefilled_evidence
    for evidence_id, (case_id, code, sha256) in ledger.evidence.items():
        row = rows[evidence_id]
        assert (row.case_id, row.item.code, row.sha256) == (case_id, code, sha256)
        stored_file = server.evidence_dir / sha256[:2] / sha256[2:4] / sha256
        assert hashlib.sha256(stored_file.read_bytes()).hexdigest() == sha256

    # every accepted submit is exactly one transition event; nothing else moved
    submitted = Counter(db.session.scalars(select(AuditEvent.case_id).where(
        AuditEvent.action == "case.transition", AuditEvent.subject == "submit")))
    assert submitted == Counter(ledger.submits)
    in_appraisal = set(db.session.scalars(select(Case.id).where(Case.stage == "appraisal")))
    assert in_appraisal == set(ledger.submits)
    assert len(set(ledger.submits)) == len(ledger.submits)

    result = audit.verify()
    assert result.ok, result
