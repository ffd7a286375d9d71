"""Helpers every page blueprint shares: the clock (with ``?as_of=``), the scoped case lookup,
the role check, and the form's expected case version."""

from __future__ import annotations

import datetime as dt
from functools import wraps

from flask import abort, request
from flask_login import current_user, login_required

from models import Case
from states import Role
from workflow import queries
from workflow.clock import LOCAL_TZ, utcnow


def now() -> dt.datetime:
    """Now, or the end of ``?as_of=YYYY-MM-DD`` (local) to read an old campaign as it stood then."""
    raw = request.args.get("as_of", "").strip()
    if raw:
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            abort(400)
        return dt.datetime.combine(day, dt.time(23, 59), LOCAL_TZ).astimezone(dt.UTC)
    return utcnow()


def action_now() -> dt.datetime:
    """The moment a change is made: always the real clock (``as_of`` only changes what pages show)."""
    return utcnow()


def case_or_404(case_id: int) -> Case:
    """The case if the current user may see it; 404 both for "missing" and "not yours"."""
    found = queries.visible_case(current_user, case_id)
    if found is None:
        abort(404)
    return found


def expected_version(field: str = "version") -> int | None:
    """The version the form was rendered from (hidden ``field``: the case's by default), for conflict checks."""
    raw = request.form.get(field, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        abort(400)
    return int(raw)


def roles_required(*roles: Role):
    """Log-in plus at least one of ``roles`` (403 otherwise). Commune scope is checked per case."""
    wanted = frozenset(roles)

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not (current_user.is_active and current_user.roles & wanted):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate
