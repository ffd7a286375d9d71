"""`flask survey` commands: progress, importing returned forms, weights, issued forms, conversion, lag notices."""

from __future__ import annotations

import json
from pathlib import Path

import click

from models import db
from workflow import survey, txn
from workflow.clock import utcnow

from .common import actor_by_email, campaign_by_key, domain_errors, fail

group = click.Group("survey", help="The sociological survey: progress, import, weights, conversion to points.")


def _actor(email: str | None):
    return actor_by_email(email) if email else None


@group.command("status")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of rows) instead of a table.")
@domain_errors
def status_cmd(campaign_key, as_json):
    """Per commune and respondent group: quota, forms issued, forms returned."""
    campaign = campaign_by_key(campaign_key)
    if not survey.groups_of(campaign):
        fail(f"campaign {campaign.key} has no survey groups (its plan has no survey block)")
    result = survey.progress(campaign, now=utcnow())
    if as_json:
        click.echo(json.dumps([r.as_json() for r in result.rows], ensure_ascii=False, indent=2))
        return
    due = f"due {result.due.date:%d/%m/%Y}" if result.due else "no due date"
    click.echo(f"survey of {campaign.key}: {due}")
    click.echo(f"{'commune':<10} {'group':<20} {'quota':>6} {'issued':>7} {'returned':>9}  status")
    for r in result.rows:
        click.echo(f"{r.commune_code or '-':<10} {r.group:<20} {r.quota:>6} {r.issued:>7} {r.returned:>9}  "
                   f"{r.status}")


@group.command("import")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--actor", "actor_email", help="E-mail of the secretariat user recorded as the author "
                                             "(default: the system).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@domain_errors
def import_cmd(campaign_key, actor_email, as_json, file: Path):
    """Import returned forms from FILE (.csv or .xlsx, layout in docs/survey.md): all rows or none."""
    campaign = campaign_by_key(campaign_key)
    with txn.guarded():  # a form inserted meanwhile by someone else: a conflict, not a traceback
        report = survey.import_file(campaign, file, actor=_actor(actor_email), now=utcnow())
    if report.ok:
        txn.commit()
    else:
        db.session.rollback()
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.summary())
        for problem in report.problems:
            click.echo(f"  {problem}")
    if not report.ok:
        raise SystemExit(2)


@group.command("convert")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--actor", "actor_email", required=True, help="E-mail of the secretariat user recording the points.")
@click.option("--commune", "communes", multiple=True, help="Only this commune code (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@domain_errors
def convert_cmd(campaign_key, actor_email, communes, as_json):
    """Convert the returned forms into survey points on each open case."""
    campaign = campaign_by_key(campaign_key)
    actor = actor_by_email(actor_email)
    report = survey.convert(campaign, actor=actor, now=utcnow(), commune_codes=list(communes) or None)
    txn.commit()
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        return
    click.echo(report.summary())
    for commune, code in report.missing:
        click.echo(f"  {commune} {code}: no valid answers, no points recorded")
    for commune, reason in report.skipped:
        click.echo(f"  {commune}: skipped, {reason}")


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, number = value.partition("=")
        if not sep or not key.strip():
            fail(f"{what}: write KEY=NUMBER, not {value!r}")
        out[key.strip()] = number.strip()
    return out


@group.command("weights")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--actor", "actor_email", help="E-mail of the secretariat user (needed to change weights).")
@click.option("--option", "options", multiple=True, help="Option weight in percent, e.g. B=60 (give all of A-D).")
@click.option("--group", "groups", multiple=True, help="Group weight, e.g. dept_leaders=30 (give every group).")
@click.option("--no-group-weights", is_flag=True, help="Count every valid form alike again.")
@domain_errors
def weights_cmd(campaign_key, actor_email, options, groups, no_group_weights):
    """Show the conversion weights, or set them (all four options, or every group)."""
    campaign = campaign_by_key(campaign_key)
    if options or groups or no_group_weights:
        if not actor_email:
            fail("--actor is required to change the weights")
        survey.set_weights(campaign, actor=actor_by_email(actor_email), now=utcnow(),
                           options=_pairs(options, "--option") if options else None,
                           groups=_pairs(groups, "--group") if groups else None, clear_groups=no_group_weights)
        txn.commit()
    click.echo(json.dumps(survey.weights_of(campaign).as_json(), ensure_ascii=False))


@group.command("issue")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--commune", required=True, help="Commune code.")
@click.option("--group", "group_code", required=True, help="Respondent group code.")
@click.option("--count", type=int, required=True, help="Number of blank forms handed out.")
@click.option("--mode", default="in_person", show_default=True, help="in_person or online.")
@click.option("--surveyor", help="Who handed them out.")
@click.option("--actor", "actor_email", help="E-mail of the secretariat user (default: the system).")
@domain_errors
def issue_cmd(campaign_key, commune, group_code, count, mode, surveyor, actor_email):
    """Record forms issued for one commune and group."""
    campaign = campaign_by_key(campaign_key)
    survey.record_issue(campaign, commune, group_code, count, actor=_actor(actor_email), now=utcnow(), mode=mode,
                        surveyor=surveyor)
    txn.commit()
    click.echo(f"recorded {count} form(s) issued to {group_code} for commune {commune}")


@group.command("remind")
@click.option("--campaign", "campaign_key", help="Only this campaign (default: every campaign).")
@domain_errors
def remind_cmd(campaign_key):
    """Queue today's notices to the secretariat for communes whose returns lag the survey due date."""
    from notifications import survey_lag

    campaign = campaign_by_key(campaign_key) if campaign_key else None
    report = survey_lag.queue_lag_notices(now=utcnow(), campaign=campaign)
    txn.commit()
    click.echo(report.describe())
