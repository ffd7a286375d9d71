"""`flask criteria` commands: load a criteria set file, list the loaded sets."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from models import CriteriaItem, CriteriaSet, db
from workflow import criteria_sets, txn
from workflow.clock import utcnow

from .common import actor_by_email, domain_errors

group = click.Group("criteria", help="Criteria sets: load a file, list versions.")


@group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--actor", "actor_email", help="Who loads the set (default: system).")
@domain_errors
def load(path: str, actor_email: str | None) -> None:
    """Load a criteria set (JSON or YAML); unchanged content is a no-op, changed content a new version."""
    actor = actor_by_email(actor_email) if actor_email else None
    cs, created = criteria_sets.load_criteria_file(path, actor=actor, now=utcnow())
    txn.commit()
    leaves = sum(1 for i in cs.items if i.is_leaf)
    if created:
        click.echo(f"criteria set {cs.label} loaded: {len(cs.items)} items, {leaves} sub-criteria, "
                   f"{cs.total_points} points")
    else:
        click.echo(f"criteria set {cs.label} unchanged (same content already loaded)")


@group.command("list")
@domain_errors
def list_sets() -> None:
    """Every loaded version, newest first per key."""
    rows = db.session.execute(
        select(CriteriaSet, func.count(CriteriaItem.id))
        .outerjoin(CriteriaItem, (CriteriaItem.criteria_set_id == CriteriaSet.id) & CriteriaItem.method.is_not(None))
        .group_by(CriteriaSet.id).order_by(CriteriaSet.key, CriteriaSet.version.desc())).all()
    for cs, leaves in rows:
        click.echo(f"{cs.label}\t{cs.year}\t{cs.total_points} points\t{leaves} sub-criteria\t"
                   f"sha256 {cs.content_sha256[:12]}")
    click.echo(f"{len(rows)} criteria set version(s)")
