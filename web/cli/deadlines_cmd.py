"""`flask deadlines` commands: the reminder schedule of a campaign and the reminder sweep."""

from __future__ import annotations

import json
import sys
from collections import Counter

import click

from workflow import reminders, sweep, txn
from workflow.clock import parse_moment, utcnow

from .common import campaign_by_key, domain_errors, fail

group = click.Group("deadlines", help="Deadlines: the reminder schedule and the reminder sweep.")


def _bar(label: str):
    # on stderr, so that --json output on stdout stays machine-readable
    return lambda items: click.progressbar(items, label=label, file=sys.stderr)


def _as_of(text: str | None, campaign_tz: str | None = None):
    if not text:
        return utcnow()
    try:
        return parse_moment(text.strip(), campaign_tz or "Asia/Ho_Chi_Minh")
    except ValueError:
        fail(f"--as-of {text!r} is not a date or date-time such as 2024-02-06T08:00")


@group.command("schedule")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--as-of", "as_of", help="List what goes out after this moment (local time when naive).")
@domain_errors
def schedule_cmd(campaign_key, as_json, as_of):
    """Print every reminder, overdue notice and escalation still to come; sends nothing.

    Open deadlines count as they are. A stage a case has not reached yet is planned from the plan's due
    and marked "planned": its notices go out only if the case is in that stage by then.
    """
    campaign = campaign_by_key(campaign_key)
    now = _as_of(as_of, campaign.timezone)
    notices = reminders.schedule(campaign, now=now, progress=_bar("planning"))
    for notice in notices:
        row = notice.as_json()
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"{row['date']}  due {row['due']}  {row['commune_code']:<8} {row['stage']:<16} "
                       f"{row['kind']:<10} {row['level']:>2}  {'planned' if row['planned'] else 'open   '}  "
                       f"{', '.join(row['recipients']) or '(nobody)'}")
    kinds = Counter(n.kind for n in notices)
    planned = sum(1 for n in notices if n.deadline_id is None)
    summary = (f"{len(notices)} notice(s) for campaign {campaign.key}: {kinds['reminder']} reminder(s), "
               f"{kinds['overdue']} overdue, {kinds['escalation']} escalation(s); {planned} planned for stages "
               "not reached yet")
    click.echo(summary, err=as_json)


@group.command("sweep")
@click.option("--campaign", "campaign_key", help="Only this campaign (default: every campaign).")
@click.option("--as-of", "as_of", help="Sweep as if it were this moment (local time when naive), "
                                       "e.g. 2024-02-06T08:00.")
@domain_errors
def sweep_cmd(campaign_key, as_of):
    """Queue every reminder, overdue notice and escalation that has come due, once."""
    campaign = campaign_by_key(campaign_key) if campaign_key else None
    now = _as_of(as_of, campaign.timezone if campaign else None)
    report = sweep.sweep(now=now, campaign=campaign, ran_at=utcnow(), progress=_bar("sweeping"))
    txn.commit()
    click.echo(report.summary())
