"""`flask scheduler` commands: run the scheduler process, run one job, show job state."""

from __future__ import annotations

import logging
import signal

import click
from flask import current_app
from sqlalchemy import select

from models import SchedulerState, db
from notifications import scheduler
from workflow.clock import parse_moment

from .common import fail

group = click.Group("scheduler", help="The periodic jobs: reminder sweep, delivery, daily digest.")


@group.command("run")
@click.option("--sweep-every", type=click.FloatRange(min=0.1), envvar="SCHEDULER_SWEEP_EVERY",
              help="seconds between sweeps [default: 300]")
@click.option("--deliver-every", type=click.FloatRange(min=0.1), envvar="SCHEDULER_DELIVER_EVERY",
              help="seconds between delivery runs [default: 60]")
@click.option("--sweep-batch", type=click.IntRange(1, 100000), envvar="SCHEDULER_SWEEP_BATCH",
              help="deadlines per sweep transaction [default: 50]")
@click.option("--deliver-batch", type=click.IntRange(1, 5000), envvar="SCHEDULER_DELIVER_BATCH",
              help="messages per SMTP session [default: 200]")
@click.option("--claim-lease", type=click.FloatRange(min=1), envvar="OUTBOX_CLAIM_LEASE",
              help="seconds a delivery claim keeps other processes off a message "
                   "[default: 10 minutes, more for long batches]")
@click.option("--jobs", envvar="SCHEDULER_JOBS", default=None,
              help="comma-separated jobs to run [default: sweep,deliver,digest]")
@click.option("--exit-when-drained", is_flag=True, envvar="SCHEDULER_EXIT_WHEN_DRAINED",
              help="stop once no deadline has a notice due and no message is queued (tests, catch-up runs)")
def run_command(sweep_every, deliver_every, sweep_batch, deliver_batch, claim_lease, jobs, exit_when_drained):
    """Run the scheduler in the foreground (production: its own process, e.g. a systemd unit)."""
    # job summaries and failures go to stderr (journald/docker logs), one line each
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # a tick that finds its job still running (a long delivery) is expected, not a warning worth a line
    logging.getLogger("apscheduler.scheduler").addFilter(
        lambda record: "maximum number of running instances" not in record.getMessage())
    app = current_app._get_current_object()
    for name, value in (("SCHEDULER_SWEEP_EVERY", sweep_every), ("SCHEDULER_DELIVER_EVERY", deliver_every),
                        ("SCHEDULER_SWEEP_BATCH", sweep_batch), ("SCHEDULER_DELIVER_BATCH", deliver_batch),
                        ("OUTBOX_CLAIM_LEASE", claim_lease), ("SCHEDULER_JOBS", jobs)):
        if value is not None:
            app.config[name] = value
    try:
        settings = scheduler.Settings.of(app)
    except ValueError as exc:
        fail(str(exc))
    if not settings.jobs:
        fail("--jobs: name at least one of sweep, deliver, digest")
    sched = scheduler.blocking_scheduler(app, settings)
    if exit_when_drained:
        scheduler.stop_when_drained(sched, app, settings)

    def stop(signum, _frame):
        click.echo(f"signal {signum}: stopping after the running jobs", err=True)
        sched.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"scheduler {scheduler.owner_id()}: {settings.describe()}"
               + ("; exits when drained" if exit_when_drained else ""))
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    released = scheduler.release_leases(scheduler.owner_id())
    click.echo(f"scheduler stopped ({released} lease(s) released)")


@group.command("run-job")
@click.argument("name", type=click.Choice(sorted(scheduler.JOBS)))
@click.option("--now", "now_text", default=None, help="as of this moment (ISO; naive = Hà Nội time)")
def run_job_command(name: str, now_text: str | None):
    """Run one job once, now (or as of --now), and print its summary."""
    now = None
    if now_text is not None:
        try:
            now = parse_moment(now_text)
        except ValueError:
            fail(f"--now: not an ISO date or date-time: {now_text!r}")
    try:
        summary = scheduler.run_job(current_app._get_current_object(), name, now=now)
    except Exception as exc:  # noqa: BLE001 - one line for the operator; the log has the traceback
        fail(f"job {name} failed: {type(exc).__name__}: {exc}")
    click.echo(summary)


@group.command("status")
def status_command():
    """Show each job's last completed run and its lease holder."""
    rows = db.session.scalars(select(SchedulerState).order_by(SchedulerState.name)).all()
    for s in rows:
        last = s.last_completed_at.isoformat(timespec="seconds") if s.last_completed_at else "never"
        lease = (f"lease {s.lease_owner} until {s.lease_until.isoformat(timespec='seconds')}"
                 if s.lease_owner and s.lease_until else "no lease")
        click.echo(f"{s.name:<10} last completed {last}; {lease}")
    click.echo(f"{len(rows)} job state row(s)")
