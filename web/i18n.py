"""Languages (Vietnamese by default, English on request) and the number and date formats of the UI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Blueprint, redirect, request, session, url_for
from flask_babel import Babel
from flask_login import current_user

from states import STAGE_TITLES_EN, STAGE_TITLES_VI, Stage

LANGUAGES = ("vi", "en")
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

bp = Blueprint("i18n", __name__)
babel = Babel()


def select_locale() -> str:
    """The session's choice, else the user's saved locale, else Vietnamese (never the browser's guess)."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    user_locale = getattr(current_user, "locale", None) if current_user else None
    return user_locale if user_locale in LANGUAGES else "vi"


def points(value) -> str:
    """Two decimals with the decimal comma Vietnamese writes (84,12); '' for no score."""
    if value is None:
        return ""
    return f"{Decimal(value):.2f}".replace(".", ",")


def ddmmyyyy(value) -> str:
    """A date, or a moment in local time, as dd/mm/yyyy (an ISO date as stored in an audit event too)."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value  # not a date: shown as it is
    if isinstance(value, dt.datetime):
        value = value.astimezone(LOCAL_TZ).date()
    return value.strftime("%d/%m/%Y")


def stage_title(name: str | None) -> str:
    """A stage's title in the reader's language ("–" for none; an unknown name as it is)."""
    if not name:
        return "–"
    try:
        stage = Stage(name)
    except ValueError:
        return name
    return (STAGE_TITLES_VI if select_locale() == "vi" else STAGE_TITLES_EN)[stage]


def local_time(value: dt.datetime | None) -> str:
    """A UTC moment shown in Asia/Ho_Chi_Minh time: dd/mm/yyyy HH:MM."""
    if value is None:
        return ""
    return value.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


@bp.route("/lang/<code>")
def switch(code: str):
    if code in LANGUAGES:
        session["lang"] = code
    target = request.referrer or ""
    # back to where the switch was pressed, but only within this site
    if not target.startswith(request.host_url):
        target = url_for("pages.home")
    return redirect(target)


def init_app(app) -> None:
    """Bind Flask-Babel (vi default), the format filters, and the language switch."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "vi")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "../translations")
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["points"] = points
    app.jinja_env.filters["ddmmyyyy"] = ddmmyyyy
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.globals["stage_title"] = stage_title
    app.jinja_env.globals["current_locale"] = select_locale
    app.register_blueprint(bp)
