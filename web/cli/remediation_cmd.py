"""`flask remediation` commands: a published case's remediation plan, as a draft listing or a document."""

from __future__ import annotations

import json
from pathlib import Path

import click

from workflow import cases, remediation, remediation_export, txn
from workflow.clock import utcnow

from .common import campaign_by_key, domain_errors, fail

group = click.Group("remediation", help="Remediation plans (kế hoạch khắc phục) of published cases.")

FORMATS = {"docx": remediation_export.to_docx, "pdf": remediation_export.to_pdf}


def _plan(campaign_key: str, commune_code: str):
    """The case's plan; drafted (and committed) now if the case is published and has none yet."""
    campaign = campaign_by_key(campaign_key)
    case = cases.get_case(campaign.key, commune_code)
    plan = remediation.plan_of(case)
    if plan is None:
        if case.stage != "publication":
            fail(f"commune {commune_code} is in stage {case.stage}: a remediation plan is drafted after publication")
        plan = remediation.generate_plan(case, actor=None, now=utcnow())
        txn.commit()
    return plan


@group.command("draft")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--commune", "commune_code", required=True, help="Commune code.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per item, per line: code, max, obtained, lost, cause.")
@domain_errors
def draft_cmd(campaign_key, commune_code, as_json):
    """The plan's items: every sub-criterion below its maximum, with the points lost and the cause."""
    plan = _plan(campaign_key, commune_code)
    rows = remediation.draft_rows(plan)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    width = max((len(r["code"]) for r in rows), default=4)
    click.echo(f"{'code'.ljust(width)}  {'max':>6}  {'obtained':>8}  {'lost':>6}  cause")
    for r in rows:
        click.echo(f"{r['code'].ljust(width)}  {r['max']:>6}  {r['obtained']:>8}  {r['lost']:>6}  {r['cause'] or '-'}")
    lost = sum((item.lost for item in plan.items), start=0)
    click.echo(f"{len(rows)} item(s), {lost} point(s) lost; plan {plan.status}")


@group.command("export")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--commune", "commune_code", required=True, help="Commune code.")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), required=True, help="docx or pdf.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="File to write (default: ke-hoach-khac-phuc-<commune>-<campaign>.<format> here).")
@domain_errors
def export_cmd(campaign_key, commune_code, fmt, output: Path | None):
    """Write the plan as a Vietnamese document (DOCX or PDF) in the shape communes file."""
    plan = _plan(campaign_key, commune_code)
    data = FORMATS[fmt](plan, now=utcnow())
    target = output or Path(remediation_export.file_name(plan, fmt))
    try:
        target.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror}")
    click.echo(f"wrote {target} ({len(plan.items)} item(s), {len(data)} bytes)")
