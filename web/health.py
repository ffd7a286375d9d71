"""``/healthz``: is the database answering, and is the scheduler's sweep running?"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from models import SchedulerState, db
from workflow.clock import utcnow

bp = Blueprint("health", __name__)

STALE_AFTER = dt.timedelta(minutes=15)  # three missed 5-minute sweeps


@bp.get("/healthz")
def healthz():
    """200 with the last sweep's time when the database answers; 503 when it does not."""
    now = utcnow()
    try:
        db.session.execute(text("SELECT 1"))
        state = db.session.get(SchedulerState, "sweep")
        last = state.last_completed_at if state is not None else None
        db.session.rollback()
    except SQLAlchemyError as exc:
        db.session.rollback()
        return jsonify({"status": "error", "database": "unreachable", "error": type(exc).__name__,
                        "checked_at": now.isoformat()}), 503
    age = (now - last).total_seconds() if last is not None else None
    stale = last is None or now - last > STALE_AFTER
    return jsonify({
        "status": "ok", "database": "ok", "checked_at": now.isoformat(),
        "last_sweep_at": last.isoformat() if last is not None else None,
        "last_sweep_age_seconds": round(age) if age is not None else None,
        "stale": stale,
    }), 200
