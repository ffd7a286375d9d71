"""Login throttling: too many failed log-ins for one e-mail or from one address lock it for a while.

The failures are rows in the database, so every web worker sees the same count. An e-mail nobody
owns is counted and locked exactly like a real account: the answers reveal no accounts. A lock
starts when the window holds ``max`` failures and ends when the oldest of those leaves the window;
attempts while locked are refused before the password is checked and are not counted, so an
attacker cannot keep an account locked forever from one address.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, func, select

from models import LoginFailure, User, db
from states import Role

from . import audit
from .errors import NotPermitted

DEFAULTS = {"LOGIN_MAX_FAILURES": 5, "LOGIN_ADDRESS_MAX_FAILURES": 20, "LOGIN_LOCKOUT_MINUTES": 15}
KEEP = dt.timedelta(days=1)  # failures older than this are pruned (only the window counts)


@dataclass(frozen=True)
class Limits:
    per_account: int
    per_address: int
    window: dt.timedelta


def limits() -> Limits:
    """The configured limits (LOGIN_MAX_FAILURES, LOGIN_ADDRESS_MAX_FAILURES, LOGIN_LOCKOUT_MINUTES)."""
    cfg = {k: int(current_app.config.get(k, v)) for k, v in DEFAULTS.items()}
    return Limits(cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_ADDRESS_MAX_FAILURES"],
                  dt.timedelta(minutes=cfg["LOGIN_LOCKOUT_MINUTES"]))


def account_key(email: str | None) -> str:
    return (email or "").strip().lower()[:254]


def _locked_until(column, key: str, most: int, window: dt.timedelta, now: dt.datetime) -> dt.datetime | None:
    # the most recent ``most`` failures in the window; locked until the oldest of them leaves it
    recent = list(db.session.scalars(
        select(LoginFailure.failed_at).where(column == key, LoginFailure.failed_at > now - window)
        .order_by(LoginFailure.failed_at.desc()).limit(most)))
    if len(recent) < most:
        return None
    return recent[-1] + window


def account_locked_until(email: str, *, now: dt.datetime) -> dt.datetime | None:
    """When the lock on this e-mail ends (None: not locked)."""
    lim = limits()
    return _locked_until(LoginFailure.account, account_key(email), lim.per_account, lim.window, now)


def locked_until(email: str, address: str, *, now: dt.datetime) -> dt.datetime | None:
    """When a log-in for this e-mail from this address may be tried again (None: now)."""
    lim = limits()
    ends = [_locked_until(LoginFailure.account, account_key(email), lim.per_account, lim.window, now),
            _locked_until(LoginFailure.address, address, lim.per_address, lim.window, now)]
    ends = [e for e in ends if e is not None]
    return max(ends) if ends else None


def record_failure(email: str, address: str, *, now: dt.datetime) -> dt.datetime | None:
    """Count a failed log-in; audit a lock that it starts. Returns when the lock ends, if it locked."""
    lim = limits()
    key = account_key(email)
    db.session.execute(delete(LoginFailure).where(LoginFailure.failed_at < now - KEEP))
    db.session.add(LoginFailure(account=key, address=address, failed_at=now))
    db.session.flush()
    for scope, column, value, most in (("account", LoginFailure.account, key, lim.per_account),
                                       ("address", LoginFailure.address, address, lim.per_address)):
        in_window = db.session.scalar(select(func.count(LoginFailure.id)).where(
            column == value, LoginFailure.failed_at > now - lim.window))
        if in_window == most:  # this failure starts the lock (later ones are refused before counting)
            until = _locked_until(column, value, most, lim.window, now)
            audit.record("login.locked", actor=None, now=now, subject=f"{scope}:{value}"[:100],
                         after={"scope": scope, scope: value, "failures": most, "locked_until": until})
    return locked_until(email, address, now=now)


def clear_account(email: str) -> None:
    """A successful log-in starts the account's count afresh (the address keeps its count)."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.account == account_key(email)))


def unlock(user: User, *, actor: User, now: dt.datetime) -> bool:
    """An admin lifts the lock on an account; audited. False if it was not locked."""
    if not (actor.is_active and Role.admin in actor.roles):
        raise NotPermitted("Only an administrator may unlock an account.")
    if account_locked_until(user.email, now=now) is None:
        return False
    clear_account(user.email)
    audit.record("login.unlocked", actor=actor, now=now, subject=user.email[:100],
                 after={"scope": "account", "account": account_key(user.email)})
    return True
