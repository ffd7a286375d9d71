"""The audit log: append events to the hash chain, verify it, export it, replay a case from it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import insert, select, update

from models import AuditEvent, AuditHead, User, db

GENESIS = "0" * 64
SYSTEM = "system"


def _jsonable(value):
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return value


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(seq, occurred_at, actor, actor_id, action, campaign_id, case_id, subject,
               before, after, prev_hash) -> str:
    """SHA-256 over the canonical JSON of an event's content and its predecessor's hash."""
    return _hash_stamped(seq, _stamp(occurred_at), actor, actor_id, action, campaign_id, case_id, subject,
                         before, after, prev_hash)


def _hash_stamped(seq, stamp, actor, actor_id, action, campaign_id, case_id, subject, before, after,
                  prev_hash) -> str:
    """``event_hash`` with the time already written as its stamp (many events of one moment)."""
    body = json.dumps([seq, stamp, actor, actor_id, action, campaign_id, case_id, subject, before, after, prev_hash],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# built once: the statements are the same on every append (Core, on the session's connection)
_HEAD = AuditHead.__table__
_EVENTS = AuditEvent.__table__
_LOCK_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq)
_LOCK_HEAD_RETURNING = _LOCK_HEAD.returning(_HEAD.c.seq, _HEAD.c.last_hash)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.last_hash).where(_HEAD.c.id == 1)
_LOCK_HEAD_FOR_UPDATE = _READ_HEAD.with_for_update()
_INSERT_EVENT = insert(_EVENTS)


class _Head:
    """The chain head as this transaction holds it (locked): the last seq and hash appended."""

    __slots__ = ("seq", "last_hash")

    def __init__(self, seq: int, last_hash: str):
        self.seq, self.last_hash = seq, last_hash


def _head_for_this_transaction() -> _Head:
    """Lock the chain head for the rest of the transaction (row lock / SQLite write lock)."""
    session = db.session()
    txn = session.get_transaction()
    cached = session.info.get("audit_head")
    if cached is not None and cached[0] is txn:
        return cached[1]
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # a row lock that writes no new row version (the head is the most updated row there is)
        seq, last_hash = conn.execute(_LOCK_HEAD_FOR_UPDATE).one()
    elif conn.dialect.update_returning:
        # take SQLite's write lock and read in one statement (SQLite >= 3.35)
        seq, last_hash = conn.execute(_LOCK_HEAD_RETURNING).one()
    else:
        conn.execute(_LOCK_HEAD)
        seq, last_hash = conn.execute(_READ_HEAD).one()
    head = _Head(seq, last_hash)
    session.info["audit_head"] = (txn, head)
    return head


def _append(rows: list[dict], head: _Head, seq: int, last_hash: str) -> None:
    """Insert the events in the caller's transaction; the database moves the head on with each one
    (trigger audit_events_move_head, migration 0013), and this transaction's copy follows."""
    db.session.connection().execute(_INSERT_EVENT, rows)
    head.seq, head.last_hash = seq, last_hash


class Appended(NamedTuple):
    """An event ``record`` appended: its row as written (the row itself is not loaded into the session)."""

    seq: int
    occurred_at: dt.datetime
    actor_id: int | None
    actor: str
    action: str
    campaign_id: int | None
    case_id: int | None
    subject: str | None
    before: dict | None
    after: dict | None
    prev_hash: str
    hash: str


def record(action: str, *, actor: User | None, now: dt.datetime, case=None, campaign_id: int | None = None,
           subject: str | None = None, before: dict | None = None, after: dict | None = None) -> Appended:
    """Append one event to the chain in the current transaction; returns what was written."""
    head = _head_for_this_transaction()
    if case is not None:
        campaign_id = case.campaign_id
    case_id = case.id if case is not None else None
    actor_label = actor.email if actor is not None else SYSTEM
    actor_id = actor.id if actor is not None else None
    before_j = _jsonable(before) if before is not None else None
    after_j = _jsonable(after) if after is not None else None
    seq = head.seq + 1
    digest = event_hash(seq, now, actor_label, actor_id, action, campaign_id, case_id, subject,
                        before_j, after_j, head.last_hash)
    row = {"seq": seq, "occurred_at": now, "actor_id": actor_id, "actor": actor_label, "action": action,
           "campaign_id": campaign_id, "case_id": case_id, "subject": subject, "before": before_j,
           "after": after_j, "prev_hash": head.last_hash, "hash": digest}
    _append([row], head, seq, digest)
    return Appended(**row)


@dataclass(frozen=True)
class Entry:
    """One event for ``record_many``: what ``record`` takes, the case given by its ids."""

    action: str
    campaign_id: int | None = None
    case_id: int | None = None
    subject: str | None = None
    before: dict | None = None
    after: dict | None = None


def record_many(entries: list[Entry], *, actor: User | None, now: dt.datetime) -> None:
    """Append many events in order, as ``record`` would one by one, with one bulk insert."""
    if not entries:
        return
    head = _head_for_this_transaction()
    actor_label = actor.email if actor is not None else SYSTEM
    actor_id = actor.id if actor is not None else None
    seq, prev, rows, stamp = head.seq, head.last_hash, [], _stamp(now)
    for e in entries:
        seq += 1
        before_j = _jsonable(e.before) if e.before is not None else None
        after_j = _jsonable(e.after) if e.after is not None else None
        digest = _hash_stamped(seq, stamp, actor_label, actor_id, e.action, e.campaign_id, e.case_id, e.subject,
                               before_j, after_j, prev)
        rows.append({"seq": seq, "occurred_at": now, "actor_id": actor_id, "actor": actor_label, "action": e.action,
                     "campaign_id": e.campaign_id, "case_id": e.case_id, "subject": e.subject, "before": before_j,
                     "after": after_j, "prev_hash": prev, "hash": digest})
        prev = digest
    _append(rows, head, seq, prev)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} events verified"
        return f"audit chain BROKEN at event seq {self.first_bad_seq} (id {self.first_bad_id}): {self.problem}"


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_STRING = json.encoder.encode_basestring  # how the canonical encoder writes a str (ensure_ascii=False)


def _text_stamp(value) -> str:
    """``_stamp`` of a stored timestamp read raw: SQLite's naive-UTC text, or an aware datetime."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":  # SQLAlchemy's SQLite format: 2023-11-20 08:00:00.000000
            return f"{value[:10]}T{value[11:]}Z"
        value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
    return _stamp(value)


def _number(value) -> str:
    """An id field as the canonical encoder writes it (an int, or null)."""
    return "null" if value is None else str(value) if type(value) is int else _CANONICAL(value)


def _verify_sql(dialect: str) -> str:
    """The chain's raw columns in seq order: timestamps and JSON as stored, no ORM or type processing."""
    if dialect == "postgresql":
        stamp = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        before, after = "before::text", "after::text"
    else:
        stamp, before, after = "occurred_at", "before", "after"
    return (f"SELECT id, seq, {stamp}, actor, actor_id, action, campaign_id, case_id, subject, "
            f"{before}, {after}, prev_hash, hash FROM audit_events ORDER BY seq")


def _raw_rows(dialect: str, batch: int) -> Iterator[tuple]:
    """Stream the rows through the driver's own cursor (server-side on PostgreSQL), in chunks."""
    raw = db.session.connection().connection.dbapi_connection
    cursor = raw.cursor(name="audit_verify") if dialect == "postgresql" else raw.cursor()
    try:
        cursor.execute(_verify_sql(dialect))
        while chunk := cursor.fetchmany(batch):
            yield from chunk
    finally:  # also when the caller stops at the first bad event
        cursor.close()


def verify(batch: int = 20000) -> VerifyResult:
    """Walk the whole chain in order; report the first event that does not match.

    The hash is ``event_hash``'s, computed from the raw columns: the canonical JSON list is written
    field by field (the same bytes ``json.dumps`` gives), each stored before/after text parsed and
    re-encoded once per distinct text. Rows stream in chunks (a server-side cursor on PostgreSQL).
    """
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    dialect = db.session.get_bind().dialect.name
    stamped = dialect == "postgresql"  # PostgreSQL hands back the stamp text itself
    canonical: dict[str | None, str] = {None: "null"}  # stored JSON text -> its canonical JSON
    sha256, string = hashlib.sha256, _STRING
    rows = _raw_rows(dialect, batch)
    try:
        for (id_, seq, occurred_at, actor, actor_id, action, campaign_id, case_id, subject,
             before, after, prev_hash, stored) in rows:
            if seq != expected_seq:
                problem = (f"expected seq {expected_seq}, found {seq}: "
                           f"{'events missing (deleted)' if seq > expected_seq else 'events reordered'}")
                return VerifyResult(False, checked, seq, id_, problem)
            if prev_hash != expected_prev:
                return VerifyResult(False, checked, seq, id_, "prev_hash does not match the previous event's hash")
            try:
                json_before = canonical.get(before)
                if json_before is None:
                    json_before = canonical[before] = _CANONICAL(json.loads(before))
                json_after = canonical.get(after)
                if json_after is None:
                    json_after = canonical[after] = _CANONICAL(json.loads(after))
                if len(canonical) > 50_000:  # bounded: histories with few repeats must not fill memory
                    canonical = {None: "null"}
                if not stamped:  # SQLAlchemy's SQLite text, 2023-11-20 08:00:00.000000, is naive UTC
                    occurred_at = (f"{occurred_at[:10]}T{occurred_at[11:]}Z"
                                   if len(occurred_at) == 26 and occurred_at[10] == " "
                                   else _text_stamp(occurred_at))
                # prev_hash equals the previous stored hash: hex digits, written as they are
                body = (f"[{seq},{string(occurred_at)},{string(actor)},{_number(actor_id)},{string(action)},"
                        f"{_number(campaign_id)},{_number(case_id)},"
                        f"{'null' if subject is None else string(subject)},{json_before},{json_after},"
                        f"{string(prev_hash)}]")
            except (TypeError, ValueError):  # unreadable JSON or timestamp: not what record() wrote
                return VerifyResult(False, checked, seq, id_, "content does not match its hash (edited)")
            if sha256(body.encode("utf-8")).hexdigest() != stored:
                return VerifyResult(False, checked, seq, id_, "content does not match its hash (edited)")
            expected_prev = stored
            expected_seq += 1
            checked += 1
    finally:
        rows.close()
    head = db.session.get(AuditHead, 1, populate_existing=True)  # the row, not a copy read earlier
    if head is None or head.seq != checked or head.last_hash != expected_prev:
        return VerifyResult(False, checked, checked + 1, None,
                            "the chain head records more events than the table holds (tail deleted)")
    return VerifyResult(True, checked)


def as_dict(event: AuditEvent) -> dict:
    return {
        "seq": event.seq, "id": event.id, "occurred_at": _stamp(event.occurred_at), "actor": event.actor,
        "action": event.action, "campaign_id": event.campaign_id, "case_id": event.case_id,
        "subject": event.subject, "before": event.before, "after": event.after,
        "prev_hash": event.prev_hash, "hash": event.hash,
    }


def events_for(*, campaign_id: int | None = None, case_id: int | None = None,
               until: dt.datetime | None = None, batch: int = 5000) -> Iterator[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    if campaign_id is not None:
        stmt = stmt.where(AuditEvent.campaign_id == campaign_id)
    if case_id is not None:
        stmt = stmt.where(AuditEvent.case_id == case_id)
    if until is not None:
        stmt = stmt.where(AuditEvent.occurred_at <= until)
    yield from db.session.scalars(stmt.execution_options(yield_per=batch))


@dataclass
class ReplayedCase:
    """A case as the log says it stood at a moment."""

    stage: str | None = None
    scores: dict[str, dict] = field(default_factory=dict)
    evidence: dict[int, dict] = field(default_factory=dict)
    sign_offs: dict[int, dict] = field(default_factory=dict)
    revision_due: str | None = None
    last_seq: int = 0
    events: int = 0

    def as_dict(self) -> dict:
        return {
            "stage": self.stage, "revision_due": self.revision_due, "events": self.events,
            "last_seq": self.last_seq,
            "scores": {k: self.scores[k] for k in sorted(self.scores, key=_natural)},
            "evidence": sorted(self.evidence.values(), key=lambda e: e["id"]),
            "sign_offs": [self.sign_offs[k] for k in sorted(self.sign_offs)],
        }


def _natural(code: str):
    return [int(p) if p.isdigit() else p for p in code.split(".")]


def replay(case_id: int, as_of: dt.datetime) -> ReplayedCase:
    """Rebuild a case from its events up to ``as_of`` (inclusive)."""
    state = ReplayedCase()
    for ev in events_for(case_id=case_id, until=as_of):
        state.events += 1
        state.last_seq = ev.seq
        after = ev.after or {}
        if ev.action == "case.created":
            state.stage = after.get("stage")
        elif ev.action == "case.transition":
            state.stage = after.get("stage", state.stage)
            if "revision_due" in after:
                state.revision_due = after["revision_due"]
        elif ev.action == "score.changed" and ev.subject:
            state.scores.setdefault(ev.subject, {}).update(after)
        elif ev.action == "evidence.added":
            state.evidence[after["id"]] = dict(after, code=ev.subject)
        elif ev.action == "evidence.removed":
            state.evidence.pop((ev.before or {}).get("id"), None)
        elif ev.action.startswith("signoff."):
            sid = after.get("sign_off_id")
            if sid is not None:
                entry = state.sign_offs.setdefault(sid, {"id": sid, "signatures": []})
                if ev.action == "signoff.requested":
                    entry.update(transition=after.get("transition"), status="pending")
                elif ev.action == "signoff.signed":
                    entry["signatures"].append({"by": ev.actor, "decision": after.get("decision")})
                elif ev.action == "signoff.closed":
                    entry["status"] = after.get("status")
    return state
