"""`flask results`, `flask publish` and `flask communes merge`: a campaign's results, its publication,
and the record of communes merged in the 2025 reform."""

from __future__ import annotations

import datetime as dt
import json

import click

from workflow import cases, publication, results, txn
from workflow.clock import utcnow

from .common import actor_by_email, campaign_by_key, domain_errors, fail


def _vn(value) -> str:
    return f"{value:.2f}".replace(".", ",")


@click.group("results", invoke_without_command=True)
@click.option("--campaign", "campaign_key", help="Campaign key.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per commune, per line.")
@click.pass_context
@domain_errors
def results_cmd(ctx: click.Context, campaign_key: str | None, as_json: bool):
    """Each commune's total, maximum, index, rank, band and last year's rank, as they stand now.

    JSON keys: commune_code, total, max, percentage, rank, band, previous_rank. Points are strings with
    two decimals ("84.12"), ranks are numbers; previous_rank is null without a comparable rank (a
    merged commune's predecessors ranked among other communes).
    """
    if ctx.invoked_subcommand is not None:
        return
    if not campaign_key:
        fail("--campaign KEY is required")
    campaign = campaign_by_key(campaign_key)
    rows = results.campaign_results(campaign)
    for r in rows:
        previous_rank = r.previous.rank if r.previous else None
        if as_json:
            click.echo(json.dumps({"commune_code": r.commune_code, "total": f"{r.total:.2f}",
                                   "max": f"{r.own_max:.2f}", "percentage": f"{r.percentage:.2f}",
                                   "rank": r.rank, "band": r.band, "previous_rank": previous_rank},
                                  ensure_ascii=False))
        else:
            was = "" if previous_rank is None else f"  (năm trước: {previous_rank})"
            click.echo(f"{r.rank:>3}  {r.commune_code:<8} {r.commune_name:<30} {_vn(r.total):>7}/{_vn(r.own_max):<7}"
                       f" {_vn(r.percentage):>7} %  {r.band or '-'}{was}")
    if not as_json:
        click.echo(f"{len(rows)} commune(s)", err=True)


@results_cmd.command("correct")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--commune", "commune_code", required=True, help="Commune code of the reopened case.")
@click.option("--code", required=True, help="Sub-criterion code, e.g. 1.1.2.")
@click.option("--score", required=True, help="The corrected score (0,5 or 0.5).")
@click.option("--reason", required=True, help="Why the published score is corrected.")
@click.option("--actor", "actor_email", required=True, help="E-mail of the secretariat head or admin.")
@domain_errors
def correct_cmd(campaign_key, commune_code, code, score, reason, actor_email):
    """Correct a published score of a reopened case (then approve it again: that publishes the next version)."""
    campaign = campaign_by_key(campaign_key)
    actor = actor_by_email(actor_email)
    case = cases.get_case(campaign.key, commune_code)
    diff = publication.correct_score(case, code, actor, now=utcnow(), score=score, reason=reason)
    txn.commit()
    if not diff:
        click.echo(f"{commune_code} {code}: unchanged")
    for name, (old, new) in diff.items():
        click.echo(f"{commune_code} {code}: {name} {old} -> {new}")


@click.command("publish")
@click.option("--campaign", "campaign_key", required=True, help="Campaign key.")
@click.option("--actor", "actor_email", required=True, help="E-mail of the user who publishes.")
@domain_errors
def publish_cmd(campaign_key: str, actor_email: str):
    """Publish the campaign's results: the next snapshot version (every case must be approved)."""
    campaign = campaign_by_key(campaign_key)
    actor = actor_by_email(actor_email)
    snapshot = publication.publish_campaign(campaign, actor, now=utcnow())
    txn.commit()
    click.echo(f"published {campaign.key} version {snapshot.version}, sha256 {snapshot.sha256}")


communes = click.Group("communes", help="Communes: record mergers (the 2025 reform).")


@communes.command("merge")
@click.option("--into", "into_code", required=True, help="Code of the commune formed by the merger.")
@click.option("--from", "from_codes", required=True, multiple=True, help="Code of a predecessor (repeatable).")
@click.option("--on", "merged_on", default="2025-07-01", show_default=True, help="Date of the merger (YYYY-MM-DD).")
@click.option("--actor", "actor_email", required=True, help="E-mail of the administrator recording it.")
@domain_errors
def merge_cmd(into_code: str, from_codes: tuple[str, ...], merged_on: str, actor_email: str):
    """Record that the --from communes were merged into --into (last year's results then compare)."""
    try:
        day = dt.date.fromisoformat(merged_on.strip())
    except ValueError:
        fail(f"--on {merged_on!r} is not a date (YYYY-MM-DD)")
    actor = actor_by_email(actor_email)
    commune = results.commune_by_code(into_code)
    added = results.record_merger(commune, [results.commune_by_code(c) for c in from_codes], day, actor, now=utcnow())
    txn.commit()
    click.echo(f"{commune.code}: {len(added)} predecessor(s) recorded, {len(from_codes) - len(added)} already known")
