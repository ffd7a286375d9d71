"""Audit events with their chain fields, and the integrity check."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_audit", __name__, url_prefix="/api/v1/audit", description="Audit events with their chain fields, and the integrity check")
