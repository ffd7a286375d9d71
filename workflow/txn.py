"""Transaction helpers shared by operations: optimistic version checks and conflict mapping."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from models import Case, db

from .errors import Conflict


def check_version(case: Case, expected_version: int | None) -> None:
    if expected_version is not None and case.version != expected_version:
        raise Conflict()


def touch(case: Case, now: dt.datetime) -> None:
    """Mark the case changed, so its version moves on at flush."""
    case.updated_at = now
    # even when ``now`` equals the stored value: the version must move on every change
    flag_modified(case, "updated_at")


def in_chunks(ids: list, size: int = 2000):
    """Slices of ``ids`` for bounded ``IN`` lists (SQLite's and the drivers' parameter limits)."""
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def connection():
    """The session's connection for a prebuilt Core statement, after what autoflush would have flushed.

    Reads made this way skip the ORM's execution layer (the hot path of every transition); pending ORM
    changes are flushed first unless the caller is inside ``no_autoflush``, exactly as ``session.execute``.
    """
    session = db.session()
    if session.autoflush:
        session.flush()  # a no-op when nothing is pending
    return session.connection()


def flush() -> None:
    """Flush, turning a lost optimistic-lock race into a Conflict."""
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict() from None
    except OperationalError as exc:
        if "locked" in str(exc).lower():
            db.session.rollback()
            raise Conflict() from None
        raise


def _unique_violation(exc: IntegrityError) -> bool:
    """A duplicate key: someone else inserted the same row first (e.g. a double-clicked signature)."""
    return getattr(exc.orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(exc.orig)


@contextmanager
def guarded():
    """Around an operation (also a decorator): a lost race at ANY flush becomes Conflict.

    Autoflush runs inside the operation's own queries, so a stale version can surface far from
    ``flush()``. Any failed flush also rolls the session back, so in-memory objects (a case's stage)
    never disagree with the database afterwards.
    """
    try:
        yield
    except StaleDataError:
        db.session.rollback()
        raise Conflict() from None
    except OperationalError as exc:
        db.session.rollback()
        if "locked" in str(exc).lower() or "could not serialize" in str(exc).lower():
            raise Conflict() from None
        raise
    except IntegrityError as exc:
        db.session.rollback()
        if _unique_violation(exc):
            raise Conflict() from None
        raise
    except SQLAlchemyError:
        db.session.rollback()
        raise


def commit() -> None:
    """Commit for an entry point, mapping lost races to Conflict."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise Conflict() from None
    except IntegrityError as exc:
        db.session.rollback()
        if _unique_violation(exc):
            raise Conflict() from None
        raise
    except OperationalError as exc:
        db.session.rollback()
        if "locked" in str(exc).lower() or "could not serialize" in str(exc).lower():
            raise Conflict() from None
        raise
