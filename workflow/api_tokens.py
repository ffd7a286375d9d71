"""Personal API tokens: created by their owner in the web app, shown once, stored as SHA-256, revocable.

A token acts as its user: the API applies that user's roles and commune scope, nothing more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select

from models import ApiToken, User, db

from . import audit
from .errors import InvalidInput, NotFound
from .users import signed_in

PREFIX = "cchc_"
NAME_MAX = 100
# a refreshed "last used" at most this often: one write per token per minute, not one per request
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user: User, name: str, *, now: dt.datetime) -> tuple[ApiToken, str]:
    """A new named token for ``user``; returns the row and the raw token (shown once, never stored)."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a name is required", {"name": ["a name is required"]})
    if len(name) > NAME_MAX:
        raise InvalidInput("the name is too long", {"name": [f"at most {NAME_MAX} characters"]})
    if not user.is_active:
        raise InvalidInput("this account is disabled")
    raw = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_sha256=digest(raw), created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record("api_token.created", actor=user, now=now, subject=user.email,
                 after={"token_id": row.id, "name": name})
    return row, raw


def tokens_of(user: User) -> list[ApiToken]:
    """The user's live tokens, newest first."""
    return list(db.session.scalars(select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.created_at.desc(),
                                                                               ApiToken.id.desc())))


def revoke_token(user: User, token_id: int, *, now: dt.datetime) -> ApiToken:
    """Revoke one of ``user``'s own live tokens (another user's token is "not found")."""
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise NotFound("No such token.")
    row.revoked_at = now
    audit.record("api_token.revoked", actor=user, now=now, subject=user.email,
                 after={"token_id": row.id, "name": row.name})
    return row


def authenticate(raw: str | None, *, now: dt.datetime) -> User | None:
    """The active user a live token belongs to (its last use noted), or None."""
    if not raw or len(raw) > 200 or not raw.startswith(PREFIX):
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(raw),
                                                   ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    user = signed_in(row.user_id)
    if user is None or not user.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY:
        row.last_used_at = now
    return user
