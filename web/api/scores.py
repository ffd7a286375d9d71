"""Scores of a case: read; write in the stage that owns them."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_scores", __name__, url_prefix="/api/v1/cases", description="Scores of a case: read; write in the stage that owns them")
