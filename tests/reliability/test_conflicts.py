"""Fifty simultaneous attempts to fire the same transition on the same case: one wins, 49 are told "conflict".

Through the service (threads, each with its own app context and session) and over HTTP (the API with
If-Match against a real gunicorn server); on SQLite and on PostgreSQL. Each time: the case moved once,
one ``case.transition`` audit event, and the audit chain verifies.
"""

from __future__ import annotations

import threading
from collections import Counter

from flask import current_app
from sqlalchemy import func, select

from models import AuditEvent, Case, User
from states import Stage
from workflow import api_tokens, audit, cases, txn
from workflow.clock import utcnow
from workflow.errors import Conflict, TransitionRefused

from .load_server import call, start_gunicorn

ATTEMPTS = 50


def _ready_to_submit(make, db):
    """A case in self-assessment with every self score filled: 'submit' would pass its guards."""
    campaign = make.campaign(key="race")
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.self_assessment)
    make.fill_self(case)
    db.session.commit()
    return case


def _submits(db, case_id) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.action == "case.transition", AuditEvent.subject == "submit"))


def _run_at_once(n: int, attempt) -> list:
    """``attempt(i)`` in ``n`` threads released together by a barrier; the results in thread order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=60)
            results[i] = attempt(i)
        except Exception as exc:  # noqa: BLE001 - reported, and fails the test below
            results[i] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "an attempt hung"
    return results


def test_fifty_service_calls_at_once_one_fires_the_rest_conflict(app, db, make):
    case = _ready_to_submit(make, db)
    case_id, officer_id, version = case.id, make.officers["10001"].id, case.version
    db.session.close()
    flask_app = current_app._get_current_object()
    now = utcnow()

    def attempt(_i):
        # as a page or the API does: the version the user read, then load and fire in one transaction
        with flask_app.app_context():
            try:
                mine = db.session.get(Case, case_id)
                cases.fire(mine, "submit", db.session.get(User, officer_id), now=now, expected_version=version)
                txn.commit()
                return "won"
            except Conflict:
                return "conflict"
            except TransitionRefused as exc:
                return f"refused: {exc.message}"
            finally:
                db.session.remove()

    outcomes = Counter(_run_at_once(ATTEMPTS, attempt))
    assert outcomes == {"won": 1, "conflict": ATTEMPTS - 1}, outcomes
    assert db.session.get(Case, case_id).stage == Stage.appraisal.value
    assert _submits(db, case_id) == 1
    assert audit.verify().ok


def test_fifty_api_requests_at_once_one_fires_the_rest_get_409_or_412(app, db, make, database_url, tmp_path):
    case = _ready_to_submit(make, db)
    _row, token = api_tokens.create_token(make.officers["10001"], "race", now=utcnow())
    db.session.commit()
    case_id = case.id
    db.session.close()
    server = start_gunicorn(database_url, tmp_path, workers=2, threads=16, name="race")
    try:
        etag = call(server, "GET", f"/api/v1/cases/{case_id}", token=token).etag
        assert etag

        def attempt(_i):
            return call(server, "POST", f"/api/v1/cases/{case_id}/transitions/submit", token=token,
                        headers={"If-Match": etag}, json_body={})

        replies = _run_at_once(ATTEMPTS, attempt)
    finally:
        server.stop()
    assert all(not isinstance(r, str) for r in replies), [r for r in replies if isinstance(r, str)]
    statuses = Counter(r.status for r in replies)
    assert statuses[200] == 1 and statuses[409] + statuses[412] == ATTEMPTS - 1, (statuses, server.output()[-2000:])
    [won] = [r for r in replies if r.status == 200]
    assert won.json()["fired"] is True and won.json()["dest"] == "appraisal"
    for reply in replies:
        if reply.status != 200:
            problem = reply.json()
            assert reply.headers["content-type"].startswith("application/problem+json")
            assert problem["type"].rsplit("/", 1)[1] in ("conflict", "precondition-failed"), problem
    assert db.session.get(Case, case_id).stage == Stage.appraisal.value
    assert _submits(db, case_id) == 1
    assert audit.verify().ok
    assert "Traceback" not in server.output()
