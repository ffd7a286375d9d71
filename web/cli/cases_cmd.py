"""`flask cases` commands: list a campaign's cases, show one, fire a transition through the service."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from models import Case, Commune, db
from states import Stage, transitions_from
from workflow import assessment_forms, cases, deadlines, signoff, txn
from workflow.clock import utcnow
from workflow.scoring import case_totals

from .common import actor_by_email, campaign_by_key, domain_errors, fail

group = click.Group("cases", help="A campaign's cases: list, show, fire a transition.")


def _vn(value) -> str:
    """Points with two decimals and a decimal comma, as Vietnamese documents write them."""
    return f"{Decimal(str(value)):.2f}".replace(".", ",")


def _parse_stage(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return Stage(text.strip()).value
    except ValueError:
        fail(f"unknown stage {text!r}; one of: {', '.join(s.value for s in Stage)}")


def _parse_date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option} {text!r} is not a date (YYYY-MM-DD)")


def _parse_int(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        fail(f"{option} {text!r} is not a whole number")


@group.command("list")
@click.option("--campaign", "campaign_key", required=True)
@click.option("--stage", help="Only cases in this stage.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@domain_errors
def list_cmd(campaign_key, stage, as_json):
    """The campaign's cases with stage, current deadline and version."""
    campaign = campaign_by_key(campaign_key)
    stage = _parse_stage(stage)
    stmt = (select(Case).join(Commune, Commune.id == Case.commune_id)
            .where(Case.campaign_id == campaign.id).order_by(Commune.code))
    if stage:
        stmt = stmt.where(Case.stage == stage)
    rows = []
    for case in db.session.scalars(stmt):
        deadline = deadlines.current_deadline(case)
        rows.append({"commune_code": case.commune.code, "commune_name": case.commune.name,
                     "stage": case.stage, "due": deadline.due.isoformat() if deadline else None,
                     "version": case.version})
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    headers = {"commune_code": "commune", "commune_name": "name", "stage": "stage", "due": "due",
               "version": "version"}
    table = [headers] + [{k: "-" if v is None else str(v) for k, v in r.items()} for r in rows]
    widths = {k: max(len(r[k]) for r in table) for k in headers}
    for i, r in enumerate(table):
        click.echo("  ".join(r[k].ljust(widths[k]) for k in headers).rstrip())
        if i == 0:
            click.echo("  ".join("-" * widths[k] for k in headers))
    click.echo(f"{len(rows)} case(s) in {campaign.key}" + (f" in stage {stage}" if stage else ""))


@group.command("show")
@click.option("--campaign", "campaign_key", required=True)
@click.option("--commune", "commune_code", required=True)
@click.option("--actor", "actor_email", help="Also check this user's permission for each transition.")
@domain_errors
def show_cmd(campaign_key, commune_code, actor_email):
    """One case: stage, deadline, totals, what blocks each next transition, pending sign-off."""
    campaign = campaign_by_key(campaign_key)
    case = cases.get_case(campaign.key, commune_code)
    actor = actor_by_email(actor_email) if actor_email else None
    zone = ZoneInfo(campaign.timezone or "Asia/Ho_Chi_Minh")
    click.echo(f"{case.commune.code} {case.commune.name} in {campaign.key}")
    click.echo(f"  stage: {case.stage}   version: {case.version}")
    if case.revision_due:
        click.echo(f"  returned for revision: {case.revision_reason or ''} (due {case.revision_due.isoformat()})")
    deadline = deadlines.current_deadline(case)
    if deadline is None:
        click.echo("  deadline: none open")
    else:
        click.echo(f"  deadline: {deadline.due.isoformat()} ({deadline.kind}; {deadline.explanation})")

    totals = case_totals(case)
    click.echo(f"  total: {_vn(totals.total)}/{_vn(totals.own_max)} ({_vn(totals.percentage)}%)   "
               f"self-assessed: {_vn(totals.self_total)}")
    for code in totals.areas:
        node = totals.nodes[code]
        click.echo(f"    {code} {node.title_vi}: {_vn(node.final_total)}/{_vn(node.own_max)} "
                   f"(self {_vn(node.self_total)})")

    specs = transitions_from(case.stage_enum)
    click.echo("  next transitions:" if specs else "  next transitions: none")
    for spec in specs:
        blockers = cases.readiness(case, spec.name, actor)
        note = " (needs council sign-off)" if campaign.needs_sign_off(spec.name) else ""
        state = "ready" if not blockers else "blocked by:"
        click.echo(f"    {spec.name} -> {spec.dest.value}{note}: {state}")
        for blocker in blockers:
            click.echo(f"      {blocker}")

    pending = signoff.pending_for(case)
    if pending is None:
        click.echo("  pending sign-off: none")
    else:
        asked = pending.requested_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        click.echo(f"  pending sign-off of '{pending.transition}' (requested {asked}): "
                   f"{signoff.progress(pending).summary()}")
        for sig in pending.signatures:
            click.echo(f"    {sig.user.email}: {sig.decision}" + (f" ({sig.comment})" if sig.comment else ""))


@group.command("fire")
@click.option("--campaign", "campaign_key", required=True)
@click.option("--commune", "commune_code", required=True)
@click.argument("transition")
@click.option("--actor", "actor_email", required=True, help="E-mail of the user who fires it.")
@click.option("--reason", help="Why (required to return for revision or reopen).")
@click.option("--revision-due", "revision_due", help="Last day for the revision (YYYY-MM-DD); return_for_revision "
              "without it: 5 working days from today on the campaign's calendar, as the case page offers.")
@click.option("--expected-version", "expected_version", help="Refuse if the case changed since this version.")
@domain_errors
def fire_cmd(campaign_key, commune_code, transition, actor_email, reason, revision_due, expected_version):
    """Fire TRANSITION on a case through the workflow service; a refusal lists every blocking item."""
    campaign = campaign_by_key(campaign_key)
    revision = _parse_date(revision_due, "--revision-due")
    version = _parse_int(expected_version, "--expected-version")
    case = cases.get_case(campaign.key, commune_code)
    actor = actor_by_email(actor_email)
    now = utcnow()
    if revision is None and transition.strip() == "return_for_revision":
        revision = assessment_forms.default_revision_due(case, now)
    result = cases.fire(case, transition.strip(), actor, now=now, expected_version=version,
                        reason=reason, revision_due=revision)
    txn.commit()
    label = f"{case.commune.code} {case.commune.name}"
    if result.fired:
        deadline = deadlines.current_deadline(case)
        due = f", due {deadline.due.isoformat()}" if deadline else ""
        click.echo(f"{label}: {transition} fired, {result.source} -> {result.dest} "
                   f"(version {case.version}{due})")
    else:
        click.echo(f"{label}: council sign-off of '{transition}' opened (id {result.sign_off.id}); "
                   f"{signoff.progress(result.sign_off).summary()}")
