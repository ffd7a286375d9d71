"""Publication: frozen, hashed, versioned snapshots of a campaign's published results, and corrections.

Version 1 is written by ``publish_campaign`` once every case is approved (in the publication stage).
After that, every ``approve`` of a case (a correction: ``reopen``, ``correct_score``, ``approve``) writes
the next version in the same transaction, through the StageChanged handler registered in
``workflow.events``. A version holds each commune's last approved result: a case reopened and not yet
approved again keeps the entry it had in the version before. Each version carries the computed
difference from the one before. Snapshots are append-only (models.publication).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

from sqlalchemy import bindparam, select

from models import Campaign, Case, ResultSnapshot, User, db
from states import Role, Stage

from . import access, audit, deadlines, events, scores, txn
from .errors import InvalidInput, NotPermitted
from .results import (
    CommuneResult,
    band_of,
    campaign_results,
    competition_ranks,
    criteria_items,
    latest_snapshot,
)
from .txn import check_version, flush, guarded

PUBLISHERS = frozenset({Role.secretariat, Role.secretariat_head, Role.authority_leader, Role.admin})
CORRECTORS = frozenset({Role.secretariat_head, Role.admin})


def _points(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def entry_of(row: CommuneResult) -> dict:
    """One commune's public result: scores and standing only (no e-mails, notes or explanations)."""
    previous = None
    if row.previous is not None:
        previous = {
            "campaign_key": row.previous.campaign_key, "year": row.previous.year,
            "percentage": _points(row.previous.percentage), "rank": row.previous.rank,
            "merged": row.previous.merged,
            "predecessors": [{"commune_code": s.commune_code, "commune_name": s.commune_name,
                              "percentage": _points(s.percentage), "rank": s.rank}
                             for s in row.previous.predecessors],
        }
    return {
        "commune_code": row.commune_code, "commune_name": row.commune_name,
        "total": _points(row.total), "max": _points(row.own_max), "max_points": _points(row.max_points),
        "percentage": _points(row.percentage), "survey_points": _points(row.survey_points),
        "rank": row.rank, "band": row.band, "previous": previous,
        "areas": [{"code": a.code, "title_vi": a.title_vi, "max": _points(a.max_points),
                   "own_max": _points(a.own_max), "score": _points(a.score)} for a in row.areas],
        "items": [{"code": i.code, "max": _points(i.max_points), "score": _points(i.score),
                   "not_applicable": i.not_applicable} for i in row.items],
    }


def canonical(payload: dict) -> str:
    """The canonical serialisation the hash is computed over: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rank(entries: list[dict], classification: list[dict]) -> list[dict]:
    percentages = [Decimal(e["percentage"]) for e in entries]
    for entry, rank in zip(entries, competition_ranks(percentages), strict=True):
        entry["rank"] = rank
        entry["band"] = band_of(Decimal(entry["percentage"]), classification)
        previous = entry.get("previous") or {}
        prev_rank = previous.get("rank")
        entry["rank_change"] = None if prev_rank is None else prev_rank - rank
        entry["percentage_change"] = (None if previous.get("percentage") is None else
                                      _points(Decimal(entry["percentage"]) - Decimal(previous["percentage"])))
    entries.sort(key=lambda e: (e["rank"], e["commune_code"]))
    return entries


def pending_entries(campaign: Campaign, before: ResultSnapshot | None) -> tuple[list[dict], list[CommuneResult]]:
    """The entries the next version would hold, and the cases that have no approved result yet."""
    carried = {e["commune_code"]: e for e in json.loads(before.payload)["communes"]} if before else {}
    entries, missing = [], []
    for row in campaign_results(campaign):
        if row.stage == Stage.publication.value:
            entries.append(entry_of(row))
        elif row.commune_code in carried:
            entries.append(dict(carried[row.commune_code]))
        else:
            missing.append(row)
    return _rank(entries, campaign.classification), missing


def payload_of(snapshot: ResultSnapshot) -> dict:
    return json.loads(snapshot.payload)


def difference(old: dict, new: dict) -> dict:
    """What changed between two versions' payloads: per commune the totals, rank, band and items."""
    before = {e["commune_code"]: e for e in old["communes"]}
    after = {e["commune_code"]: e for e in new["communes"]}
    changed = []
    for code, entry in after.items():
        was = before.get(code)
        if was is None:
            continue
        fields = {name: [was.get(name), entry.get(name)] for name in ("total", "max", "percentage", "rank", "band")
                  if was.get(name) != entry.get(name)}
        old_items = {i["code"]: i for i in was["items"]}
        items = {i["code"]: [old_items.get(i["code"], {}).get("score"), i["score"]] for i in entry["items"]
                 if old_items.get(i["code"], {}).get("score") != i["score"]
                 or old_items.get(i["code"], {}).get("not_applicable") != i["not_applicable"]}
        if fields or items:
            changed.append({"commune_code": code, "commune_name": entry["commune_name"], "fields": fields,
                            "items": items})
    return {"changed": sorted(changed, key=lambda c: c["commune_code"]),
            "added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after))}


def is_empty(diff: dict) -> bool:
    return not (diff["changed"] or diff["added"] or diff["removed"])


def _write(campaign: Campaign, entries: list[dict], before: ResultSnapshot | None, actor: User | None,
           now: dt.datetime, *, trigger: str, case: Case | None) -> ResultSnapshot:
    version = before.version + 1 if before else 1
    payload = {
        "campaign": {"key": campaign.key, "year": campaign.year, "title": campaign.title,
                     "authority": campaign.authority.name},
        "version": version, "published_at": now.astimezone(dt.UTC).isoformat(),
        "classification": [{"min": str(b["min"]), "label": b["label"]} for b in campaign.classification or []],
        "criteria": [{"code": i.code, "title_vi": i.title_vi, "max": _points(i.max_points), "depth": i.depth,
                      "leaf": i.is_leaf} for i in criteria_items(campaign)],
        "communes": entries,
    }
    text = canonical(payload)
    diff = difference(payload_of(before), payload) if before else None
    snapshot = ResultSnapshot(campaign_id=campaign.id, version=version, trigger=trigger,
                              case_id=case.id if case else None, payload=text, sha256=sha256_of(text), diff=diff,
                              published_by_id=actor.id if actor else None, published_at=now)
    db.session.add(snapshot)
    _close_publication_deadlines(campaign, now)
    audit.record("results.published", actor=actor, now=now, case=case, campaign_id=campaign.id,
                 subject=f"v{version}",
                 before={"version": before.version, "sha256": before.sha256} if before else None,
                 after={"version": version, "sha256": snapshot.sha256, "trigger": trigger,
                        "communes_changed": [c["commune_code"] for c in diff["changed"]] if diff else None})
    flush()
    return snapshot


def _close_publication_deadlines(campaign: Campaign, now: dt.datetime) -> None:
    """Publishing is what the publication stage waits for: its open deadlines are met (no more reminders)."""
    db.session.flush()  # a case approved in this transaction is in publication when the statement runs
    deadlines.complete_open_in_stage(campaign.id, Stage.publication.value, now)


@guarded()
def publish_campaign(campaign: Campaign, actor: User, *, now: dt.datetime) -> ResultSnapshot:
    """Publish the whole campaign's results: the next snapshot version, once every case is approved."""
    if not (actor.is_active and actor.roles & PUBLISHERS):
        raise NotPermitted("Only the secretariat or the authority's leader may publish the results.")
    before = latest_snapshot(campaign)
    entries, missing = pending_entries(campaign, before)
    if missing:
        names = ", ".join(f"{r.commune_code} ({r.stage})" for r in sorted(missing, key=lambda r: r.commune_code))
        raise InvalidInput(f"Cannot publish: not yet approved: {names}", {"cases": [r.commune_code for r in missing]})
    if not entries:
        raise InvalidInput("Cannot publish: the campaign has no cases", {"cases": ["none"]})
    if before is not None:
        nothing_new = {**payload_of(before), "communes": entries}
        if is_empty(difference(payload_of(before), nothing_new)):
            raise InvalidInput(f"Already published as version {before.version}; nothing has changed since.")
    return _write(campaign, entries, before, actor, now, trigger="campaign", case=None)


_ANY_SNAPSHOT = select(ResultSnapshot.id).where(ResultSnapshot.campaign_id == bindparam("campaign_id")).limit(1)


def on_stage_changed(event: events.StageChanged) -> None:
    """In-transaction handler: a case approved again after publication writes the next version."""
    if event.transition != "approve" or event.case_id is None:
        return
    case = db.session.get(Case, event.case_id)
    if txn.connection().execute(_ANY_SNAPSHOT, {"campaign_id": case.campaign_id}).first() is None:
        return  # not published yet (the usual answer, from one bare read): the publication will include it
    before = latest_snapshot(case.campaign)
    actor = db.session.get(User, event.actor_id) if event.actor_id is not None else None
    entries, _ = pending_entries(case.campaign, before)
    _write(case.campaign, entries, before, actor, event.occurred_at, trigger="correction", case=case)


def was_published(case: Case) -> bool:
    before = latest_snapshot(case.campaign)
    return before is not None and any(e["commune_code"] == case.commune.code
                                      for e in payload_of(before)["communes"])


@guarded()
def correct_score(case: Case, code: str, actor: User, *, now: dt.datetime, score, reason: str,
                  expected_version: int | None = None) -> dict:
    """Correct a published score of a reopened case (council meeting stage), with a reason; audited."""
    check_version(case, expected_version)
    if not (actor.is_active and actor.roles & CORRECTORS):
        raise NotPermitted("Only the secretariat head or an administrator may correct a published score.")
    if case.stage_enum != Stage.council_meeting or not was_published(case):
        raise NotPermitted("Only a published case reopened for the council may be corrected "
                           f"(the case is in {case.stage}).")
    if not (reason or "").strip():
        raise InvalidInput("A correction needs a reason.", {"reason": ["required"]})
    access.require_view(actor, case)
    item = scores.item_by_code(case, code)
    field = "survey_score" if item.method == "survey" else "appraised_score"
    diff = scores._apply(case, item, actor, now, {field: scores.parse_points(score, item)})
    if diff:
        audit.record("score.corrected", actor=actor, now=now, case=case, subject=code,
                     before={field: diff[field][0]}, after={field: diff[field][1], "reason": reason.strip()})
    flush()
    return diff
