"""`flask outbox` commands: deliver what is queued, list messages, queue today's digest."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from models import OutboxMessage, db
from notifications import delivery, digest

from .common import domain_errors, moment_or_now

group = click.Group("outbox", help="The e-mail outbox: deliver, list, digest.")

STATUSES = ("queued", "sent", "failed", "skipped")


@group.command("deliver")
@click.option("--batch", type=click.IntRange(1, 5000), default=200, show_default=True,
              help="messages per SMTP session")
@click.option("--now", "now_text", default=None, help="as of this moment (ISO; naive = Hà Nội time)")
@domain_errors
def deliver_command(batch: int, now_text: str | None):
    """Send every queued message that is due now, batch by batch over one SMTP session each."""
    now = moment_or_now(now_text)
    due = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now)) or 0
    db.session.commit()
    totals = delivery.DeliveryReport(owner=delivery.default_owner())
    with click.progressbar(length=due, label="Delivering") as bar:
        while True:
            report = delivery.deliver(now=now, batch=batch, owner=totals.owner)
            totals.claimed += report.claimed
            totals.sent += report.sent
            totals.retrying += report.retrying
            totals.failed += report.failed
            totals.errors.extend(report.errors)
            bar.update(report.claimed)
            # failures move into the future, so a failing batch ends the loop instead of spinning
            if report.claimed == 0 or report.sent == 0:
                break
    for error in totals.errors:
        click.echo(f"failed: {error}", err=True)
    click.echo(f"Delivered: {totals.describe()}")
    if totals.claimed and not totals.sent:
        raise SystemExit(1)


@group.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="only messages in this state")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
def list_command(status: str | None, limit: int):
    """List outbox messages, newest first."""
    stmt = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    count = select(func.count()).select_from(OutboxMessage)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
        count = count.where(OutboxMessage.status == status)
    rows = db.session.scalars(stmt).all()
    for m in rows:
        when = (m.sent_at or m.next_attempt_at).isoformat(timespec="minutes")
        extra = m.smtp_response if m.status == "sent" else (m.last_error or "")
        click.echo(f"{m.id:>6}  {m.status:<7} {m.kind:<10} L{m.level} try {m.attempts}  {when}  "
                   f"{m.recipient}  {m.subject}" + (f"  [{extra}]" if extra else ""))
    total = db.session.scalar(count)
    click.echo(f"{len(rows)} of {total} message(s)" + (f" with status {status}" if status else ""))


@group.command("digest")
@click.option("--now", "now_text", default=None, help="as of this moment (ISO; naive = Hà Nội time)")
@domain_errors
def digest_command(now_text: str | None):
    """Queue today's digest for every secretariat user (at most once per user and day)."""
    report = digest.queue_digests(now=moment_or_now(now_text))
    db.session.commit()
    click.echo(report.describe())
