"""E-mail notifications: templates, the outbox, delivery over SMTP, the digest and the scheduler."""

from __future__ import annotations

from flask import Flask

from .mailer import TimedMail

# created unbound; ``init_app`` binds it (settings are read again at every connect)
mail = TimedMail()


def init_app(app: Flask) -> None:
    """Bind Flask-Mail, subscribe to the workflow's events, arrange for the in-web scheduler."""
    mail.init_app(app)

    from . import notices, scheduler

    notices.subscribe_all()

    scheduler.init_app(app)
