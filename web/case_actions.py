"""Changing a case from its page: firing transitions, evidence downloads."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("case_actions", __name__, url_prefix="/cases")
