"""The secretariat's case board: stage columns, filters, the sortable table view and its CSV/Excel export."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("board", __name__, url_prefix="/board")
