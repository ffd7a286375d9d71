"""Domain events: frozen, past-tense records published by operations.

Each published event is written to ``domain_events`` in the same transaction (the outbox)
and handed to the in-transaction handlers registered below (they may only write rows;
I/O such as e-mail leaves after commit, from the delivery job).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import insert

from models import DomainEvent, db

from .audit import _jsonable


@dataclass(frozen=True)
class Event:
    case_id: int | None
    occurred_at: dt.datetime


@dataclass(frozen=True)
class StageChanged(Event):
    transition: str
    source: str
    dest: str
    actor: str  # the e-mail, or audit.SYSTEM
    actor_id: int | None = None


@dataclass(frozen=True)
class ReturnedForRevision(Event):
    reason: str
    revision_due: dt.date


@dataclass(frozen=True)
class SignOffRequested(Event):
    sign_off_id: int
    transition: str


@dataclass(frozen=True)
class SignOffClosed(Event):
    sign_off_id: int
    transition: str
    status: str


@dataclass(frozen=True)
class ScoreChanged(Event):
    code: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class EvidenceChanged(Event):
    code: str
    added: bool


Handler = Callable[[Event], None]

# event class -> handlers, filled by ``subscribe`` (notifications registers in init_app)
HANDLERS: dict[type[Event], list[Handler]] = {}


def subscribe(event_type: type[Event], handler: Handler) -> None:
    handlers = HANDLERS.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


_INSERT = insert(DomainEvent.__table__)


def _row(event: Event) -> dict:
    return {"name": type(event).__name__, "case_id": event.case_id, "occurred_at": event.occurred_at,
            "payload": {f.name: _jsonable(getattr(event, f.name)) for f in dataclasses.fields(event)
                        if f.name not in ("case_id", "occurred_at")}}


def publish(event: Event) -> None:
    """Write the event to the outbox table and run its in-transaction handlers."""
    db.session.connection().execute(_INSERT, _row(event))
    for handler in HANDLERS.get(type(event), ()):
        handler(event)


def publish_many(published: list[Event]) -> None:
    """``publish`` for many events: the outbox rows in one bulk insert, then the handlers in order."""
    if not published:
        return
    db.session.connection().execute(_INSERT, [_row(e) for e in published])
    for event in published:
        for handler in HANDLERS.get(type(event), ()):
            handler(event)


# --- the workflow's own in-transaction handlers (notifications adds its own in init_app) -----------

def _draft_remediation_plan(event: StageChanged) -> None:
    """A case reaching publication gets its remediation plan drafted from its lost points."""
    # imported late: remediation imports modules that import this one
    from .remediation import on_stage_changed

    on_stage_changed(event)


subscribe(StageChanged, _draft_remediation_plan)


def _snapshot_correction(event: StageChanged) -> None:
    """A case approved again after its campaign was published writes the next published version."""
    from .publication import on_stage_changed  # imported late, for the same reason

    on_stage_changed(event)


subscribe(StageChanged, _snapshot_correction)
