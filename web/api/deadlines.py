"""Deadlines of a case and a campaign's reminder schedule."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_deadlines", __name__, url_prefix="/api/v1", description="Deadlines of a case and a campaign's reminder schedule")
