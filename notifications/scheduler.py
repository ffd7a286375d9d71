"""The scheduler: periodic jobs (sweep, delivery, daily digest), each in an app context, each committing.

Run it as its own process (``flask scheduler run``) in production. Two such processes may run at
once for fail-over without double effects, and both do useful work:

- the sweep commits batch by batch; on PostgreSQL each batch locks its deadline rows with
  ``FOR UPDATE SKIP LOCKED``, so two sweeps share the due deadlines; every message has a unique
  outbox key, so even a repeated decision cannot queue it twice;
- delivery claims rows (``SKIP LOCKED``, a lease in ``next_attempt_at``) before sending, so a row
  is sent by one process; a process that dies leaves its claimed rows to the others after the lease;
- digests have one key per user and day, and a lease in ``scheduler_state`` keeps the second
  process from even rendering them.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from models import Deadline, OutboxMessage, SchedulerState, db
from workflow.clock import LOCAL_TZ, utcnow

from . import anchor, delivery, digest

log = logging.getLogger(__name__)

SWEEP_EVERY = dt.timedelta(minutes=5)
DELIVER_EVERY = dt.timedelta(minutes=1)
DIGEST_AT = dt.time(7, 30)  # local time (Asia/Ho_Chi_Minh)
START_DELAY = dt.timedelta(seconds=5)
ALL_JOBS = ("sweep", "deliver", "digest")


@dataclass(frozen=True)
class Settings:
    """How often and how much: app config first, then the environment variable, then the default.

    ``SCHEDULER_SWEEP_EVERY`` / ``SCHEDULER_DELIVER_EVERY`` (seconds), ``SCHEDULER_SWEEP_BATCH``
    (deadlines per transaction), ``SCHEDULER_DELIVER_BATCH`` (messages per SMTP session),
    ``SCHEDULER_JOBS`` (comma-separated subset of sweep,deliver,digest).
    """

    sweep_every: dt.timedelta = SWEEP_EVERY
    deliver_every: dt.timedelta = DELIVER_EVERY
    sweep_batch: int = 50
    deliver_batch: int = 200
    jobs: tuple[str, ...] = ALL_JOBS

    @classmethod
    def of(cls, app: Flask) -> Settings:
        def get(name: str, default):
            value = app.config.get(name)
            if value is None:
                value = os.environ.get(name)
            return default if value in (None, "") else value

        jobs = get("SCHEDULER_JOBS", ",".join(ALL_JOBS))
        if isinstance(jobs, str):
            jobs = [j.strip() for j in jobs.split(",") if j.strip()]
        unknown = sorted(set(jobs) - set(ALL_JOBS))
        if unknown:
            raise ValueError(f"SCHEDULER_JOBS: unknown job(s) {', '.join(unknown)}")
        return cls(
            sweep_every=dt.timedelta(seconds=float(get("SCHEDULER_SWEEP_EVERY", SWEEP_EVERY.total_seconds()))),
            deliver_every=dt.timedelta(seconds=float(get("SCHEDULER_DELIVER_EVERY",
                                                         DELIVER_EVERY.total_seconds()))),
            sweep_batch=int(get("SCHEDULER_SWEEP_BATCH", 50)),
            deliver_batch=int(get("SCHEDULER_DELIVER_BATCH", 200)),
            jobs=tuple(j for j in ALL_JOBS if j in jobs),
        )

    def describe(self) -> str:
        parts = []
        if "sweep" in self.jobs:
            parts.append(f"sweep every {self.sweep_every} ({self.sweep_batch} deadlines per transaction)")
        if "deliver" in self.jobs:
            parts.append(f"delivery every {self.deliver_every} ({self.deliver_batch} messages per session)")
        if "digest" in self.jobs:
            parts.append(f"digest at {DIGEST_AT:%H:%M} Asia/Ho_Chi_Minh")
        return ", ".join(parts)


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
    """Queue every notice due by ``now`` (workflow.sweep), committing batch by batch.

    No lease: concurrent sweeps share the deadlines through row locks (see the module docstring).
    """
    from workflow import sweep as sweep_module

    db.session.commit()  # each batch starts a clean transaction of its own
    report = sweep_module.sweep(now=now, ran_at=utcnow(), batch=Settings.of(current_app).sweep_batch,
                                commit=db.session.commit)
    return f"{report.summary()} in {report.batches} batch(es) by {owner}"


def run_delivery(*, now: dt.datetime, owner: str) -> str:
    """Send what is due; batches until nothing is left (row claims make this safe in parallel)."""
    total = delivery.DeliveryReport(owner=owner)
    batch = Settings.of(current_app).deliver_batch
    while True:
        report = delivery.deliver(now=now, batch=batch, owner=owner)
        total.claimed += report.claimed
        total.sent += report.sent
        total.retrying += report.retrying
        total.failed += report.failed
        if report.claimed == 0 or report.sent == 0:
            mark_completed("deliver", now=now)
            db.session.commit()
            return f"delivery by {owner}: {total.describe()}"


def run_digest(*, now: dt.datetime, owner: str) -> str:
    """Queue the day's digests (once per user and day), the survey lag notices and the auditors' audit anchor,
    if this process holds the lease."""
    if not take_lease("digest", owner=owner, now=now, ttl=dt.timedelta(hours=1)):
        return "digest: another scheduler holds the lease"
    report = digest.queue_digests(now=now)
    from . import survey_lag  # the survey's lagging communes: one notice per commune and day, like the digest

    lag = survey_lag.queue_lag_notices(now=now)
    anchored = anchor.queue_anchor_mails(now=now)
    mark_completed("digest", now=now)
    db.session.commit()
    return f"{report.describe()}; {lag.describe()}; {anchored.describe()}"


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


def is_drained(*, now: dt.datetime, jobs: Iterable[str] = ALL_JOBS) -> bool:
    """Nothing left for these jobs: no deadline with a notice due, no message queued (even if leased)."""
    jobs = set(jobs)
    if "sweep" in jobs and db.session.scalar(select(Deadline.id).where(
            Deadline.completed_at.is_(None), Deadline.next_notice_at <= now).limit(1)) is not None:
        return False
    if "deliver" in jobs and db.session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.status == "queued").limit(1)) is not None:
        return False
    return True


def configure(scheduler: BaseScheduler, app: Flask, settings: Settings | None = None) -> BaseScheduler:
    """Add the jobs with stable ids: coalesced, one instance at a time, with misfire grace."""
    settings = settings or Settings.of(app)
    defaults = {"coalesce": True, "max_instances": 1, "replace_existing": True}
    # sweep and delivery also run at start-up: a restarted scheduler catches up at once
    intervals = [every for job, every in (("sweep", settings.sweep_every), ("deliver", settings.deliver_every))
                 if job in settings.jobs]
    delay = min([START_DELAY, *intervals])
    soon = dt.datetime.now(dt.UTC) + delay
    if "sweep" in settings.jobs:
        scheduler.add_job(run_job, IntervalTrigger(seconds=settings.sweep_every.total_seconds()),
                          args=(app, "sweep"), id="sweep", name="reminder sweep",
                          misfire_grace_time=120, next_run_time=soon, **defaults)
    if "deliver" in settings.jobs:
        scheduler.add_job(run_job, IntervalTrigger(seconds=settings.deliver_every.total_seconds()),
                          args=(app, "deliver"), id="deliver", name="outbox delivery", misfire_grace_time=50,
                          next_run_time=soon + delay, **defaults)
    if "digest" in settings.jobs:
        scheduler.add_job(run_job, CronTrigger(hour=DIGEST_AT.hour, minute=DIGEST_AT.minute, timezone=LOCAL_TZ),
                          args=(app, "digest"), id="digest", name="daily digest",
                          misfire_grace_time=3 * 3600, **defaults)
    return scheduler


def stop_when_drained(scheduler: BaseScheduler, app: Flask, settings: Settings) -> None:
    """Add a job that shuts the scheduler down once ``is_drained`` (tests, one-off catch-up runs)."""
    every = min(settings.sweep_every, settings.deliver_every)

    def check() -> None:
        with app.app_context():
            try:
                drained = is_drained(now=utcnow(), jobs=settings.jobs)
            finally:
                db.session.remove()
        if drained:
            log.info("nothing due and nothing queued: stopping")
            scheduler.shutdown(wait=False)

    scheduler.add_job(check, IntervalTrigger(seconds=every.total_seconds()), id="drained",
                      name="stop when drained", coalesce=True, max_instances=1,
                      next_run_time=dt.datetime.now(dt.UTC) + 2 * min(START_DELAY, every))


def blocking_scheduler(app: Flask, settings: Settings | None = None) -> BlockingScheduler:
    return configure(BlockingScheduler(timezone=dt.UTC), app, settings)


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
