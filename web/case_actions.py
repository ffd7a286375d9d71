"""Changing a case from the web: the one form endpoint that fires transitions, and evidence downloads.

Every page that offers a transition (case page, appraisal, self-assessment) posts here, so the
checks, the refusal display and the conflict handling exist once.
"""

from __future__ import annotations

import datetime as dt
import io

from flask import Blueprint, abort, flash, redirect, request, send_file, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from models import Evidence, db
from states import TRANSITIONS
from workflow import cases
from workflow import evidence as evidence_service
from workflow.errors import TransitionRefused
from workflow.txn import commit

from .auth import safe_next
from .common import action_now, case_or_404, expected_version

bp = Blueprint("case_actions", __name__, url_prefix="/cases")

REFUSAL_KEY = "refused"


def pop_refusal(case_id: int) -> dict | None:
    """The last refused transition on this case, once: {"transition", "blockers": [(code, reason)]}."""
    refusal = session.get(REFUSAL_KEY)
    if not refusal or refusal.get("case_id") != case_id:
        return None
    session.pop(REFUSAL_KEY)
    refusal["blockers"] = [tuple(b) for b in refusal["blockers"]]
    return refusal


@bp.route("/<int:case_id>/transitions/<name>", methods=["POST"])
@login_required
def fire(case_id: int, name: str):
    """Fire ``name`` with the form's ``version``, ``reason`` and ``revision_due`` (YYYY-MM-DD)."""
    case = case_or_404(case_id)
    if name not in TRANSITIONS:
        abort(404)
    back = safe_next(request.form.get("next")) or url_for("pages.case", case_id=case.id)
    revision_due = None
    raw_due = request.form.get("revision_due", "").strip()
    if raw_due:
        try:
            revision_due = dt.date.fromisoformat(raw_due)
        except ValueError:
            session[REFUSAL_KEY] = {"case_id": case.id, "transition": name,
                                    "blockers": [("", "the revision deadline is not a date")]}
            return redirect(back, code=303)
    try:
        result = cases.fire(case, name, current_user, now=action_now(), expected_version=expected_version(),
                            reason=request.form.get("reason"), revision_due=revision_due)
    except TransitionRefused as exc:
        db.session.rollback()
        session[REFUSAL_KEY] = {"case_id": case.id, "transition": name,
                                "blockers": [(b.code, b.reason) for b in exc.blockers]}
        return redirect(back, code=303)
    commit()
    if result.fired:
        flash(_("Done: the case moved to the next stage."), "success")
    else:
        flash(_("Sent to the council for sign-off."), "success")
    return redirect(back, code=303)


@bp.route("/<int:case_id>/evidence/<int:evidence_id>")
@login_required
def evidence_file(case_id: int, evidence_id: int):
    """Download one evidence file of a case the user may see (removed files too: the history cites them)."""
    case = case_or_404(case_id)
    row = db.session.get(Evidence, evidence_id)
    if row is None or row.case_id != case.id:
        abort(404)
    try:
        data = evidence_service.read(row)
    except FileNotFoundError:
        abort(404)
    response = send_file(io.BytesIO(data), mimetype=row.media_type, as_attachment=True,
                         download_name=row.file_name, etag=row.sha256, max_age=0)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response
