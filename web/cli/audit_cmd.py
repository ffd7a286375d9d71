"""`flask audit` commands: verify the hash chain, export it, replay a case as it stood."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from zoneinfo import ZoneInfo

import click

from models import db
from notifications import anchor
from workflow import audit, audit_anchor, audit_export, cases
from workflow.clock import parse_moment

from .common import campaign_by_key, domain_errors, fail, moment_or_now

group = click.Group("audit", help="The tamper-evident audit log: verify, export, replay.")


@group.command("verify")
@click.option("--anchor", "anchors", multiple=True, metavar="SEQ:HASH",
              help="An anchor held outside the database (from the daily anchor e-mail); repeatable.")
@click.option("--anchors-file", type=click.File("r", encoding="utf-8"),
              help="A file of anchors, one per line (e.g. copied from the e-mails).")
@domain_errors
def verify_cmd(anchors, anchors_file):
    """Walk the whole hash chain and check each anchor held; exit non-zero naming the first bad event.

    Records nothing (the auditor's page and the API record their checks as audit.verified)."""
    held = audit_anchor.parse_many(list(anchors))
    if anchors_file is not None:
        held = list(dict.fromkeys([*held, *audit_anchor.parse_lines(anchors_file.read())]))
    result = audit.verify()
    checks = audit_anchor.check(held)
    for c in checks:
        click.echo(f"anchor seq {c.seq}: {c.status}" + (f" (the event now has {c.found})" if c.found and not c.ok
                                                        else ""))
    if not result.ok:
        where = f"seq {result.first_bad_seq}" + (f" (id {result.first_bad_id})" if result.first_bad_id else "")
        fail(f"audit chain BROKEN at event {where}: {result.problem} ({result.checked} events verified before it)")
    failed = audit_anchor.problem_of(checks)
    if failed is not None:
        fail(f"audit chain REWRITTEN: {failed[1]} ({result.checked} events verify as a chain)")
    click.echo(result.describe() + (f"; {len(checks)} anchors match" if checks else ""))


@group.command("anchor")
@click.option("--now", "now_text", default=None, help="as of this moment (ISO; naive = Hà Nội time)")
@domain_errors
def anchor_cmd(now_text):
    """Check the chain now and queue today's anchor e-mail for every auditor (once per auditor and day);
    the scheduler's daily digest job does the same at 07:30."""
    report = anchor.queue_anchor_mails(now=moment_or_now(now_text))
    db.session.commit()
    click.echo(report.describe())
    if report.check is not None and not report.check.ok:
        raise SystemExit(1)


@group.command("export")
@click.option("--campaign", "campaign_key", help="Only this campaign's events.")
@click.option("--commune", "commune_code", help="Only this commune's case (needs --campaign).")
@click.option("--format", "fmt", required=True, help="csv or json (one JSON object per line).")
@click.option("--output", "output", help="File to write (default: standard output).")
@domain_errors
def export_cmd(campaign_key, commune_code, fmt, output):
    """Export the audit log with every chain field, for auditors and spreadsheets."""
    fmt = fmt.strip().lower()
    if fmt not in ("csv", "json"):
        fail(f"unknown format {fmt!r}; use csv or json")
    if commune_code and not campaign_key:
        fail("--commune needs --campaign")
    campaign_id = case_id = None
    if campaign_key:
        campaign_id = campaign_by_key(campaign_key).id
    if commune_code:
        case_id = cases.get_case(campaign_key, commune_code).id
    total = audit_export.count_events(campaign_id=campaign_id, case_id=case_id)
    rows = audit_export.export_rows(campaign_id=campaign_id, case_id=case_id)
    try:
        out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    try:
        # the bar goes to stderr so that an export to standard output stays clean
        with click.progressbar(rows, length=total, label="exporting", file=sys.stderr) as bar:
            written = audit_export.write_export(bar, fmt, out)
    finally:
        if output:
            out.close()
    click.echo(f"exported {written} events as {fmt} to {output or 'standard output'}", err=not output)


def _vn(value) -> str:
    """Points with two decimals and a decimal comma, as Vietnamese documents write them."""
    return f"{Decimal(str(value)):.2f}".replace(".", ",")


@group.command("replay")
@click.option("--campaign", "campaign_key", required=True)
@click.option("--commune", "commune_code", required=True)
@click.option("--as-of", "as_of", required=True,
              help="ISO date-time, e.g. 2023-11-15T00:00 (the campaign's local time when naive; "
                   "a date alone means 00:00 that day).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@domain_errors
def replay_cmd(campaign_key, commune_code, as_of, as_json):
    """Show a case as its audit log says it stood at a moment: stage, scores, evidence, sign-offs."""
    campaign = campaign_by_key(campaign_key)
    case = cases.get_case(campaign.key, commune_code)
    zone = ZoneInfo(campaign.timezone or "Asia/Ho_Chi_Minh")
    try:
        moment = parse_moment(as_of.strip(), zone)
    except ValueError:
        fail(f"--as-of {as_of!r} is not an ISO date or date-time (e.g. 2023-11-15T00:00)")
    data = audit_export.replay_case(case, moment)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    local = moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    click.echo(f"{case.commune.code} {case.commune.name} in {campaign.key}, as of {local} ({zone.key})")
    if data["stage"] is None:
        click.echo("  the case did not exist yet")
        return
    click.echo(f"  stage: {data['stage']}" + (f" (revision due {data['revision_due']})"
                                              if data["revision_due"] else ""))
    click.echo(f"  from {data['events']} events, the last one seq {data['last_seq']}")
    click.echo("  scores:" if data["scores"] else "  scores: none yet")
    for code, fields in data["scores"].items():
        parts = []
        for name in ("self_score", "appraised_score", "survey_score"):
            if fields.get(name) is not None:
                parts.append(f"{name.removesuffix('_score')} {_vn(fields[name])}")
        if fields.get("not_applicable"):
            parts.append("not applicable")
        click.echo(f"    {code}: {', '.join(parts) or '-'}")
    click.echo("  evidence:" if data["evidence"] else "  evidence: none")
    for ev in data["evidence"]:
        where = f" ({ev['locator']})" if ev.get("locator") else ""
        click.echo(f"    {ev.get('code')}: {ev.get('file_name', ev['id'])}{where}, sha256 {ev.get('sha256', '?')[:12]}")
    click.echo("  sign-offs:" if data["sign_offs"] else "  sign-offs: none")
    for so in data["sign_offs"]:
        signed = ", ".join(f"{s['by']} {s['decision']}" for s in so["signatures"]) or "no signatures"
        click.echo(f"    '{so.get('transition')}' {so.get('status')}: {signed}")
