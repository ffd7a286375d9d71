"""Shared helpers for operator commands: one-line errors, actor and campaign look-ups."""

from __future__ import annotations

import functools

import click
from sqlalchemy import select

from models import Campaign, User, db
from workflow.clock import parse_moment, utcnow
from workflow.errors import PlanInvalid, TransitionRefused, WorkflowError


def fail(message: str, code: int = 1):
    """Print a one-line error (no traceback) and exit non-zero."""
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(code)


def moment_or_now(text: str | None):
    """A ``--now`` option's moment (ISO; naive = Hà Nội time), or now when it is not given."""
    if text is None:
        return utcnow()
    try:
        return parse_moment(text)
    except ValueError:
        fail(f"--now {text!r} is not an ISO date or date-time (e.g. 2023-11-01T09:00)")


def domain_errors(func):
    """Turn domain errors into a clear message and a non-zero exit; rolls the session back."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TransitionRefused as exc:
            db.session.rollback()
            click.echo(f"Error: '{exc.transition}' refused; blocking items:", err=True)
            for blocker in exc.blockers:
                click.echo(f"  {blocker}", err=True)
            raise SystemExit(2) from None
        except PlanInvalid as exc:
            db.session.rollback()
            click.echo(f"Error: {exc.message}", err=True)
            raise SystemExit(2) from None
        except WorkflowError as exc:
            db.session.rollback()
            fail(exc.message)

    return wrapper


def actor_by_email(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        fail(f"no user with e-mail {email}")
    if not user.is_active:
        fail(f"user {email} is disabled")
    return user


def campaign_by_key(key: str) -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.key == key))
    if campaign is None:
        fail(f"no campaign with key {key!r}")
    return campaign
