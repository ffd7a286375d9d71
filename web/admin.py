"""Administration: users and roles, communes, criteria sets and plan files, schedule preview."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
