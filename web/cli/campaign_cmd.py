"""`flask campaign` commands: load a plan file, start a campaign, list campaigns."""

from __future__ import annotations

import sys

import click
from sqlalchemy import func, select

from models import Campaign, Case, db
from workflow import plans, txn

from .common import actor_by_email, campaign_by_key, domain_errors, fail, moment_or_now

group = click.Group("campaign", help="Campaigns: load a plan file, start, list.")


@group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--actor", "actor_email", help="Who loads the plan (default: system).")
@click.option("--now", "now_text", help="Moment of the load, ISO, local time (default: now).")
@domain_errors
def load(path: str, actor_email: str | None, now_text: str | None) -> None:
    """Create or update a campaign from a plan file (YAML or JSON); refuses a bad file as a whole."""
    actor = actor_by_email(actor_email) if actor_email else None
    report = plans.load_plan_file(path, actor=actor, now=moment_or_now(now_text))
    txn.commit()
    click.echo(report.summary())


@group.command("start")
@click.option("--campaign", "campaign_key", required=True)
@click.option("--actor", "actor_email", required=True, help="A secretariat user.")
@click.option("--now", "now_text", help="Moment of the start, ISO, local time (default: now).")
@domain_errors
def start(campaign_key: str, actor_email: str, now_text: str | None) -> None:
    """Open every case still in planning (self-assessment begins)."""
    campaign = campaign_by_key(campaign_key)
    actor = actor_by_email(actor_email)
    now = moment_or_now(now_text)
    plans.check_can_start(campaign, actor)  # a refusal is one line, not a half-drawn progress bar
    waiting = len(plans.cases_in_planning(campaign))
    with click.progressbar(length=waiting, label="opening cases", file=sys.stderr) as bar:
        opened = plans.start_campaign(campaign, actor, now=now, progress=bar.update)
    txn.commit()
    total = db.session.scalar(select(func.count(Case.id)).where(Case.campaign_id == campaign.id))
    click.echo(f"campaign {campaign.key}: opened {opened} case(s); {total - opened} of {total} "
               "were already open")


@group.command("list")
@domain_errors
def list_campaigns() -> None:
    """Every campaign with its year, criteria set and number of cases per stage."""
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.key)).all()
    for campaign in campaigns:
        stages = db.session.execute(
            select(Case.stage, func.count(Case.id)).where(Case.campaign_id == campaign.id)
            .group_by(Case.stage).order_by(Case.stage)).all()
        counts = ", ".join(f"{stage} {n}" for stage, n in stages) or "no cases"
        click.echo(f"{campaign.key}\t{campaign.year}\t{campaign.authority.name}\t"
                   f"{campaign.criteria_set.label}\t{counts}")
    click.echo(f"{len(campaigns)} campaign(s)")


@group.command("next")
@click.option("--from", "from_key", required=True, help="This year's campaign key.")
@click.option("--key", "new_key", help="The new campaign's key (required unless --plan).")
@click.option("--year", type=int, help="The new campaign's year (required unless --plan).")
@click.option("--title", help="The new title (default: the old one with the year replaced).")
@click.option("--plan", "plan_path", type=click.Path(exists=True, dir_okay=False),
              help="Load this (edited) plan instead of the proposal.")
@click.option("--write", "write_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the proposed plan to this file and stop (nothing is loaded).")
@click.option("--yes", is_flag=True, help="Load without asking.")
@click.option("--actor", "actor_email", required=True, help="A secretariat user or administrator.")
@click.option("--now", "now_text", help="Moment of the load, ISO, local time (default: now).")
@domain_errors
def next_campaign(from_key: str, new_key: str | None, year: int | None, title: str | None, plan_path: str | None,
                  write_path: str | None, yes: bool, actor_email: str, now_text: str | None) -> None:
    """Open next year's campaign from this year's: show the proposed plan (dates moved, art. 148), then load it."""
    from pathlib import Path

    from workflow import access
    from workflow import campaign_rollover as rollover
    from workflow.schemas.common import read_file

    source = campaign_by_key(from_key)
    actor = actor_by_email(actor_email)
    access.require_secretariat(actor)
    sha = None
    if plan_path:
        data, sha = read_file(plan_path, what=plans.WHAT)
    else:
        if not new_key or year is None:
            fail("give --key and --year (or --plan FILE)")
        proposal = rollover.propose(source, key=new_key, year=year, title=title)
        text = proposal.to_yaml()
        for move in proposal.moves:
            note = f" ({move.reason})" if move.reason else ""
            click.echo(f"{move.path}: {move.before} -> {move.after}{note}", err=True)
        if write_path:
            Path(write_path).write_text(text, encoding="utf-8")
            click.echo(f"proposed plan written to {write_path}; nothing loaded "
                       f"(load it with: flask campaign next --from {from_key} --plan {write_path} --actor ...)")
            return
        click.echo(text)
        data = proposal.plan
    if not yes and not click.confirm("Open the new campaign from this plan?", err=True):
        fail("nothing loaded")
    result = rollover.open_next_campaign(source, data, actor=actor, now=moment_or_now(now_text), source_sha256=sha)
    txn.commit()
    carried = ("remediation not installed: nothing carried forward" if result.carried_forward is None
               else f"{result.carried_forward} open remediation item(s) carried forward")
    click.echo(f"campaign {result.campaign.key} opened from {source.key}: {result.cases} case(s); {carried}")
