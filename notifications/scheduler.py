"""The scheduler: periodic jobs (sweep, delivery, daily digest), each in an app context, each committing.

Run it as its own process (``flask scheduler run``) in production. Two such processes may run for
fail-over without double effects: the sweep's messages have unique outbox keys, delivery claims rows
before sending, digests have one key per user and day, and a lease in ``scheduler_state`` lets
only one process do the sweep and the digest at a time (the other takes over when the lease lapses).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite

from models import SchedulerState, db
from workflow.clock import LOCAL_TZ, utcnow

from . import delivery, digest

log = logging.getLogger(__name__)

SWEEP_EVERY = dt.timedelta(minutes=5)
DELIVER_EVERY = dt.timedelta(minutes=1)
DIGEST_AT = dt.time(7, 30)  # local time (Asia/Ho_Chi_Minh)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def take_lease(name: str, *, owner: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
    """Hold job ``name`` until ``now + ttl`` unless another live process holds it; commits."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(SchedulerState).values(name=name).on_conflict_do_nothing(index_elements=["name"]))
    got = db.session.execute(
        update(SchedulerState)
        .where(SchedulerState.name == name,
               or_(SchedulerState.lease_until.is_(None), SchedulerState.lease_until <= now,
                   SchedulerState.lease_owner == owner))
        .values(lease_owner=owner, lease_until=now + ttl)
        .returning(SchedulerState.name)
        .execution_options(synchronize_session=False)).scalar()
    db.session.commit()
    return got is not None


def release_leases(owner: str) -> int:
    """Give up this process's leases (clean shutdown), so a standby or a restart takes over at once."""
    released = db.session.execute(
        update(SchedulerState).where(SchedulerState.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .returning(SchedulerState.name).execution_options(synchronize_session=False)).all()
    db.session.commit()
    return len(released)


def mark_completed(name: str, *, now: dt.datetime) -> None:
    """Record the job's last completed run (shown by ``flask scheduler status``)."""
    state = db.session.get(SchedulerState, name)
    if state is None:
        state = SchedulerState(name=name)
        db.session.add(state)
    state.last_completed_at, state.last_as_of = utcnow(), now


def run_sweep(*, now: dt.datetime, owner: str) -> str:
    """Queue every notice due by ``now`` (workflow.sweep, part A), if this process holds the lease."""
    try:
        from workflow import sweep as sweep_module
    except ImportError:  # the sweep is not installed in this build
        return "sweep: not available"
    if not take_lease("sweep", owner=owner, now=now, ttl=SWEEP_EVERY - dt.timedelta(seconds=30)):
        return "sweep: another scheduler holds the lease"
    report = sweep_module.sweep(now=now)
    db.session.commit()
    return report.summary() if hasattr(report, "summary") else "sweep done"


def run_delivery(*, now: dt.datetime, owner: str) -> str:
    """Send what is due; batches until nothing is left (row claims make this safe in parallel)."""
    total = delivery.DeliveryReport(owner=owner)
    while True:
        report = delivery.deliver(now=now, owner=owner)
        total.claimed += report.claimed
        total.sent += report.sent
        total.retrying += report.retrying
        total.failed += report.failed
        if report.claimed == 0 or report.sent == 0:
            mark_completed("deliver", now=now)
            db.session.commit()
            return total.describe()


def run_digest(*, now: dt.datetime, owner: str) -> str:
    """Queue the day's digests (once per user and day) if this process holds the lease."""
    if not take_lease("digest", owner=owner, now=now, ttl=dt.timedelta(hours=1)):
        return "digest: another scheduler holds the lease"
    report = digest.queue_digests(now=now)
    mark_completed("digest", now=now)
    db.session.commit()
    return report.describe()


JOBS: dict[str, Callable[..., str]] = {"sweep": run_sweep, "deliver": run_delivery, "digest": run_digest}


def run_job(app: Flask, name: str, *, now: dt.datetime | None = None, owner: str | None = None) -> str:
    """Run one job in a fresh app context; the job commits, an error rolls back and is logged."""
    with app.app_context():
        try:
            summary = JOBS[name](now=now or utcnow(), owner=owner or owner_id())
        except Exception:
            db.session.rollback()
            log.exception("scheduler job %s failed", name)
            raise
        finally:
            db.session.remove()
        log.info("%s", summary)
        return summary


def configure(scheduler: BaseScheduler, app: Flask) -> BaseScheduler:
    """Add the three jobs with stable ids: coalesced, one instance at a time, with misfire grace."""
    defaults = {"coalesce": True, "max_instances": 1, "replace_existing": True}
    # sweep and delivery also run at start-up: a restarted scheduler catches up at once
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    scheduler.add_job(run_job, IntervalTrigger(seconds=SWEEP_EVERY.total_seconds()), args=(app, "sweep"),
                      id="sweep", name="reminder sweep", misfire_grace_time=120, next_run_time=soon, **defaults)
    scheduler.add_job(run_job, IntervalTrigger(seconds=DELIVER_EVERY.total_seconds()), args=(app, "deliver"),
                      id="deliver", name="outbox delivery", misfire_grace_time=50,
                      next_run_time=soon + dt.timedelta(seconds=5), **defaults)
    scheduler.add_job(run_job, CronTrigger(hour=DIGEST_AT.hour, minute=DIGEST_AT.minute, timezone=LOCAL_TZ),
                      args=(app, "digest"), id="digest", name="daily digest", misfire_grace_time=3 * 3600,
                      **defaults)
    return scheduler


def blocking_scheduler(app: Flask) -> BlockingScheduler:
    return configure(BlockingScheduler(timezone=dt.UTC), app)


_web_lock = threading.Lock()
_web_scheduler: BackgroundScheduler | None = None


def should_start_in_web(app: Flask) -> bool:
    """SCHEDULER_IN_WEB, and not in the Werkzeug reloader's watcher process (it serves nothing)."""
    if not app.config.get("SCHEDULER_IN_WEB") or app.testing:
        return False
    return os.environ.get("WERKZEUG_RUN_MAIN") == "true" or not app.debug


def start_in_web(app: Flask) -> BackgroundScheduler | None:
    """Start the background scheduler once per process (idempotent)."""
    global _web_scheduler
    with _web_lock:
        if _web_scheduler is None and should_start_in_web(app):
            _web_scheduler = configure(BackgroundScheduler(timezone=dt.UTC, daemon=True), app)
            _web_scheduler.start()
            atexit.register(_stop_web_scheduler)
            log.info("scheduler started inside the web process (pid %s)", os.getpid())
        return _web_scheduler


def _stop_web_scheduler() -> None:
    if _web_scheduler is not None and _web_scheduler.running:
        _web_scheduler.shutdown(wait=False)


def init_app(app: Flask) -> None:
    """With SCHEDULER_IN_WEB, start the scheduler on the first request this process serves.

    Not at import or in create_app: CLI commands (``flask db upgrade``, ``flask scheduler run``)
    build the app too and must not start a second scheduler.
    """
    if not app.config.get("SCHEDULER_IN_WEB"):
        return

    @app.before_request
    def _start_scheduler_once():
        if _web_scheduler is None:
            start_in_web(app)
