"""Council sign-offs: pending for the caller, approve, reject."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("api_signoffs", __name__, url_prefix="/api/v1/sign-offs", description="Council sign-offs: pending for the caller, approve, reject")
