"""`flask scores` commands: importing a score sheet (CSV or Excel)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from models import db
from workflow import txn
from workflow.clock import utcnow
from workflow.score_import import KINDS, ImportRefused, import_scores, read_sheet

from .common import actor_by_email, campaign_by_key, domain_errors

group = click.Group("scores", help="Scores: import self, appraised or survey scores from a sheet.")


def _refused(exc: ImportRefused):
    db.session.rollback()
    click.echo(f"Error: score file refused, nothing written ({len(exc.problems)} problem(s)):", err=True)
    for problem in exc.problems:
        click.echo(f"  {problem}", err=True)
    raise SystemExit(2)


@group.command("import")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--kind", type=click.Choice(KINDS), required=True,
              help="self: the commune's scores; appraised: the appraisal; survey: survey points.")
@click.option("--actor", "actor_email", required=True, help="E-mail of the user the changes are made as.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@domain_errors
def import_cmd(campaign_key, kind, actor_email, file: Path):
    """Import FILE (.csv or .xlsx; columns commune_code, code, score, note), all rows or none."""
    campaign = campaign_by_key(campaign_key)
    actor = actor_by_email(actor_email)
    try:
        rows = read_sheet(file)
        with click.progressbar(length=len(rows), label=f"importing {kind} scores",
                               file=sys.stderr) as bar:
            report = import_scores(campaign, kind, rows, actor, now=utcnow(), on_row=lambda: bar.update(1))
        txn.commit()
    except ImportRefused as exc:
        _refused(exc)
    click.echo(report.summary())
