"""The commune's self-assessment form and the secretariat's appraisal form."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("assess", __name__, url_prefix="/cases")
