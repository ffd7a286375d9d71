"""Two delivery workers at once (threads, each with its own app context): no message is sent twice."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from models import AuditEvent, OutboxMessage
from notifications import delivery
from tests.conftest import NOW
from tests.notifications.conftest import queue


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_workers_never_send_a_message_twice(app, db, make, smtp, dialect, workers):
    if dialect != "postgresql":
        pytest.skip("row locks with SKIP LOCKED are PostgreSQL's; SQLite serialises writers")
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    total = 60
    for i in range(total):
        queue(case, make.officers["10001"], key=f"w-{i}")
    db.session.commit()

    barrier = threading.Barrier(workers)
    reports, errors = [], []

    def worker(n):
        try:
            with app.app_context():
                barrier.wait()
                for _ in range(10):
                    report = delivery.deliver(now=NOW, batch=7, owner=f"worker-{n}")
                    reports.append(report)
                    if report.claimed == 0:
                        break
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    keys = [m["X-CCHC-Outbox-Key"] for m in smtp.messages]
    assert len(keys) == total and len(set(keys)) == total
    assert sum(r.sent for r in reports) == total
    # the work was really shared, not done by one worker after the other
    assert len({r.owner for r in reports if r.sent}) > 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.status == "sent", OutboxMessage.attempts == 1)) == total
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "notification.sent")) == total
    assert delivery.deliver(now=NOW + dt.timedelta(days=1)).claimed == 0


def test_sequential_workers_on_any_database_share_nothing(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    for i in range(10):
        queue(case, make.officers["10001"], key=f"s-{i}")
    db.session.commit()
    first = delivery.claim(now=NOW, batch=6)
    second = delivery.claim(now=NOW, batch=6)
    assert len(first) == 6 and len(second) == 4
    assert not {c.id for c in first} & {c.id for c in second}
