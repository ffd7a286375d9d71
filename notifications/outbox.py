"""The outbox: e-mails are decided and rendered inside the deciding transaction, sent after commit.

``enqueue`` is what the reminder sweep calls; the unique ``key`` makes a second enqueue of the
same message (a re-run sweep, a second scheduler process) a no-op.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from models import Deadline, OutboxMessage, User, db

from .render import KINDS, Rendered, locale_of, render_case_message


def _dialect_insert():
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database dialect {dialect!r}")  # pragma: no cover - two databases


def _insert_ignoring_duplicates(values: dict) -> bool:
    """INSERT ... ON CONFLICT (key) DO NOTHING in the caller's transaction; True if a row was added."""
    return bool(insert_many([values]))


def insert_many(rows: list[dict]) -> set[str]:
    """Queue many message rows in one statement, skipping keys already taken; the keys added.

    A Core insert of plain parameter sets: the statement is the same for every batch, so it is
    compiled once, and the rows go out as multi-row VALUES with RETURNING (no ORM bookkeeping).
    """
    if not rows:
        return set()
    stmt = (_dialect_insert()(OutboxMessage.__table__).on_conflict_do_nothing(index_elements=["key"])
            .returning(OutboxMessage.__table__.c.key))
    db.session.flush()  # as the ORM insert did (autoflush): rows it refers to are written first
    # RETURNING, not rowcount: psycopg reports -1 for an executemany
    return set(db.session.connection().execute(stmt, rows).scalars())


def message_row(*, key: str, kind: str, rendered: Rendered, recipient: User, scheduled_for: dt.datetime,
                now: dt.datetime, case_id: int | None = None, deadline_id: int | None = None,
                stage: str | None = None, level: int = 0) -> dict:
    """The outbox row of one rendered message."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    return {
        "key": key, "kind": kind, "case_id": case_id, "deadline_id": deadline_id, "stage": stage,
        "level": level, "recipient_user_id": recipient.id, "recipient": recipient.email,
        "locale": locale_of(recipient.locale), "subject": rendered.subject, "body_text": rendered.text,
        "body_html": rendered.html, "ics": rendered.ics, "status": "queued", "attempts": 0,
        "scheduled_for": scheduled_for, "next_attempt_at": scheduled_for, "created_at": now,
    }


def insert_rendered(*, key: str, kind: str, rendered: Rendered, recipient: User, scheduled_for: dt.datetime,
                    now: dt.datetime, case_id: int | None = None, deadline_id: int | None = None,
                    stage: str | None = None, level: int = 0) -> bool:
    """Queue an already rendered message unless ``key`` is taken; True if new."""
    return _insert_ignoring_duplicates(message_row(
        key=key, kind=kind, rendered=rendered, recipient=recipient, scheduled_for=scheduled_for, now=now,
        case_id=case_id, deadline_id=deadline_id, stage=stage, level=level))


def enqueue(*, key: str, kind: str, case, deadline: Deadline | None, level: int, recipient: User,
            scheduled_for: dt.datetime, now: dt.datetime, facts: dict) -> bool:
    """Render the message in the recipient's locale and queue it unless ``key`` exists; True if new."""
    return _insert_ignoring_duplicates(enqueue_row(
        key=key, kind=kind, case=case, deadline=deadline, level=level, recipient=recipient,
        scheduled_for=scheduled_for, now=now, facts=facts))


def enqueue_row(*, key: str, kind: str, case, deadline: Deadline | None, level: int, recipient: User,
                scheduled_for: dt.datetime, now: dt.datetime, facts: dict,
                render: Callable[..., Rendered] = render_case_message) -> dict:
    """What ``enqueue`` inserts: the message rendered in the recipient's locale, as an outbox row.

    ``render`` may be a ``render.CaseMessages`` kept over many messages (the sweep's): the same text.
    """
    rendered = render(
        kind=kind, locale=recipient.locale, level=level, facts=facts,
        base_url=current_app.config.get("PUBLIC_BASE_URL", ""), recipient_name=recipient.name,
        deadline_id=deadline.id if deadline is not None else None, now=now)
    return message_row(
        key=key, kind=kind, rendered=rendered, recipient=recipient, scheduled_for=scheduled_for, now=now,
        case_id=case.id if case is not None else facts.get("case_id"),
        deadline_id=deadline.id if deadline is not None else None,
        stage=facts.get("stage") or (deadline.stage if deadline is not None else None), level=level)
