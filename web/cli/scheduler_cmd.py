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
def run_command():
    """Run the scheduler in the foreground (production: its own process, e.g. a systemd unit)."""
    # job summaries and failures go to stderr (journald/docker logs), one line each
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = current_app._get_current_object()
    sched = scheduler.blocking_scheduler(app)

    def stop(signum, _frame):
        click.echo(f"signal {signum}: stopping after the running jobs", err=True)
        sched.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"scheduler {scheduler.owner_id()}: sweep every {scheduler.SWEEP_EVERY}, delivery every "
               f"{scheduler.DELIVER_EVERY}, digest at {scheduler.DIGEST_AT:%H:%M} Asia/Ho_Chi_Minh")
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
