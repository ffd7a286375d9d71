"""Friendly error pages (403, 404, 409, 500 …): never a stack trace, always a way back."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from models import db
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted

from .messages import translate

RETRY_AFTER_SECONDS = "5"  # a dropped connection is replaced by the pool at the next request


def init_app(app) -> None:
    @app.errorhandler(NotFound)
    def _domain_not_found(_exc):
        return render_template("error.html", code=404, message=_("This page does not exist.")), 404

    @app.errorhandler(NotPermitted)
    def _domain_forbidden(exc):
        return render_template("error.html", code=403, message=translate(exc.message)), 403

    @app.errorhandler(Conflict)
    def _conflict(_exc):
        db.session.rollback()
        return render_template("error.html", code=409, reload_url=_same_site_referrer(), message=_(
            "Someone else changed this case while you were working on it. Nothing of yours was saved: "
            "reload the page to see their change, then try again.")), 409

    @app.errorhandler(InvalidInput)
    def _invalid(exc):
        return render_template("error.html", code=400, message=translate(exc.message)), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        messages = {
            400: _("The request was not understood."),
            403: _("You may not see this page."),
            404: _("This page does not exist."),
            405: _("This action is not allowed here."),
            409: _("Someone else changed this case while you were working on it. Reload and try again."),
            413: _("The file is too large."),
        }
        if exc.code not in messages:
            return exc
        return render_template("error.html", code=exc.code, message=messages[exc.code]), exc.code

    @app.errorhandler(OperationalError)
    def _database_unavailable(exc):
        # a dropped connection or a busy database: the transaction rolled back, so nothing was changed
        db.session.rollback()
        app.logger.error("database unavailable", exc_info=exc)
        page = render_template("error.html", code=503, bare=True, message=_(
            "The database is unavailable for a moment; nothing was changed. Please try again shortly."))
        return page, 503, {"Retry-After": RETRY_AFTER_SECONDS}

    @app.errorhandler(500)
    def _server_error(_exc):
        # bare: no database access while rendering, the database may be what failed
        return render_template("error.html", code=500, bare=True,
                               message=_("Something went wrong on our side. Please try again later.")), 500


def _same_site_referrer() -> str | None:
    """Where the refused form was: the page to reload (only within this site)."""
    target = request.referrer or ""
    return target if target.startswith(request.host_url) else None
