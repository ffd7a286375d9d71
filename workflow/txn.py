"""Transaction helpers shared by operations: optimistic version checks and conflict mapping."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from models import Case, db

from .errors import Conflict


def check_version(case: Case, expected_version: int | None) -> None:
    if expected_version is not None and case.version != expected_version:
        raise Conflict()


def touch(case: Case, now: dt.datetime) -> None:
    """Mark the case changed, so its version moves on at flush."""
    case.updated_at = now


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


def commit() -> None:
    """Commit for an entry point, mapping lost races to Conflict."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise Conflict() from None
    except OperationalError as exc:
        db.session.rollback()
        if "locked" in str(exc).lower() or "could not serialize" in str(exc).lower():
            raise Conflict() from None
        raise
