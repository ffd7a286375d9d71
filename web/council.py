"""The council member's inbox of pending sign-offs: approve or reject, one or several at once."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("council", __name__, url_prefix="/council")
