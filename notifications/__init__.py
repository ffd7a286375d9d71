"""E-mail notifications: templates, the outbox, delivery over SMTP, the digest and the scheduler."""

from __future__ import annotations

from flask import Flask

from .mailer import TimedMail

# created unbound; ``init_app`` binds it (settings are read again at every connect)
mail = TimedMail()


def init_app(app: Flask) -> None:
    """Bind Flask-Mail to the app."""
    mail.init_app(app)
