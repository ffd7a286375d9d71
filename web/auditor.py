"""The auditor's pages: history search, the integrity check, a case as of a date, exports."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auditor", __name__, url_prefix="/audit")
