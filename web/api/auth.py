"""Bearer-token authentication for the API: ``Authorization: Bearer <personal token>``.

The session cookie is never consulted here, so a browser's log-in cannot be replayed against the
API (and the API needs no CSRF token).
"""

from __future__ import annotations

from flask import abort, g, request

from models import User, db
from workflow import api_tokens
from workflow.clock import utcnow
from workflow.txn import commit


def authenticate() -> None:
    """Before every API request: the token's user in ``g.api_user``, or 401."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    user = api_tokens.authenticate(raw.strip(), now=utcnow()) if scheme.lower() == "bearer" else None
    if user is None:
        db.session.rollback()
        abort(401, "A valid personal API token is required (Authorization: Bearer <token>).")
    if db.session.dirty:  # "last used" moved: keep it even if the request itself fails later
        commit()
    g.api_user = user


def caller() -> User:
    return g.api_user
