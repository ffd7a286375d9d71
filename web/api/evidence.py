"""Evidence files of a case: upload, list, download."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_evidence", __name__, url_prefix="/api/v1/cases", description="Evidence files of a case: upload, list, download")
