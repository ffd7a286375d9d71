"""The audit log for auditors: rows to export (JSON lines or spreadsheet-safe CSV), re-checked offline,
and a case replayed as it stood at a moment. Shared by the CLI, the pages and the API."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import IO

from sqlalchemy import func, select

from models import AuditEvent, Campaign, Case, Commune, db

from . import audit

# Every field the hash covers (actor_id, campaign_id) plus the readable campaign key and commune code,
# so an exported file can be re-hashed without the database.
FIELDS = ("seq", "id", "occurred_at", "actor", "actor_id", "action", "campaign", "campaign_id", "commune",
          "case_id", "subject", "before", "after", "prev_hash", "hash")

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _filtered(stmt, campaign_id: int | None, case_id: int | None):
    if campaign_id is not None:
        stmt = stmt.where(AuditEvent.campaign_id == campaign_id)
    if case_id is not None:
        stmt = stmt.where(AuditEvent.case_id == case_id)
    return stmt


def count_events(*, campaign_id: int | None = None, case_id: int | None = None) -> int:
    """How many events an export with these filters will hold."""
    return db.session.scalar(_filtered(select(func.count(AuditEvent.id)), campaign_id, case_id)) or 0


def export_rows(*, campaign_id: int | None = None, case_id: int | None = None,
                batch: int = 2000) -> Iterator[dict]:
    """The chain's events in seq order (optionally one campaign's or one case's), as plain dicts."""
    stmt = (select(AuditEvent, Campaign.key, Commune.code)
            .outerjoin(Campaign, Campaign.id == AuditEvent.campaign_id)
            .outerjoin(Case, Case.id == AuditEvent.case_id)
            .outerjoin(Commune, Commune.id == Case.commune_id)
            .order_by(AuditEvent.seq))
    stmt = _filtered(stmt, campaign_id, case_id).execution_options(yield_per=batch)
    # closed even when the reader stops early (a server-side cursor on PostgreSQL)
    with db.session.execute(stmt) as result:
        for event, campaign_key, commune_code in result:
            row = audit.as_dict(event)
            row.update(actor_id=event.actor_id, campaign=campaign_key, commune=commune_code)
            yield {name: row[name] for name in FIELDS}


def json_line(row: dict) -> str:
    """One event as one line of JSON (UTF-8 text, Vietnamese kept readable)."""
    return json.dumps(row, ensure_ascii=False, sort_keys=False, separators=(",", ":"))


def csv_safe(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula by prefixing an apostrophe."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def csv_cells(row: dict) -> list[str]:
    """One event as CSV cells: before/after as JSON text, empty for null, formulas neutralised."""
    cells = []
    for name in FIELDS:
        value = row[name]
        if value is None:
            text = ""
        elif name in ("before", "after"):
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        else:
            text = str(value)
        cells.append(csv_safe(text))
    return cells


def write_export(rows: Iterable[dict], fmt: str, out: IO[str]) -> int:
    """Write ``rows`` to ``out`` as 'json' (one object per line) or 'csv' (with a header); returns the count."""
    count = 0
    if fmt == "json":
        for row in rows:
            out.write(json_line(row) + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow(csv_cells(row))
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return count


def recompute_hash(row: dict) -> str:
    """The hash an exported event should carry, computed from the exported fields alone."""
    occurred = dt.datetime.fromisoformat(row["occurred_at"].replace("Z", "+00:00"))
    return audit.event_hash(row["seq"], occurred, row["actor"], row["actor_id"], row["action"],
                            row["campaign_id"], row["case_id"], row["subject"], row["before"], row["after"],
                            row["prev_hash"])


def check_exported(rows: Iterable[dict]) -> list[str]:
    """Problems in an exported JSON file: rows whose hash does not match, broken links between neighbours.

    A filtered export skips other campaigns' events, so links are only checked between consecutive seqs.
    """
    problems, previous = [], None
    for row in rows:
        if recompute_hash(row) != row["hash"]:
            problems.append(f"seq {row['seq']}: content does not match its hash")
        if previous is not None and row["seq"] == previous["seq"] + 1 and row["prev_hash"] != previous["hash"]:
            problems.append(f"seq {row['seq']}: prev_hash does not match seq {previous['seq']}")
        previous = row
    return problems


def replay_case(case: Case, as_of: dt.datetime) -> dict:
    """The case as its audit log says it stood at ``as_of``: stage, scores, evidence, sign-offs."""
    state = audit.replay(case.id, as_of)
    return {
        "campaign": case.campaign.key,
        "commune_code": case.commune.code,
        "commune_name": case.commune.name,
        "as_of": as_of.astimezone(dt.UTC).isoformat(),
        **state.as_dict(),
    }
