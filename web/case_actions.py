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
from workflow.errors import NotPermitted, TransitionRefused
from workflow.txn import commit

from .auth import safe_next
from .common import action_now, case_or_404, expected_version
from .i18n import ddmmyyyy, stage_title

bp = Blueprint("case_actions", __name__, url_prefix="/cases")

REFUSAL_KEY = "refused"


def pop_refusal(case_id: int) -> dict | None:
    """The last refused transition on this case, once: {"transition", "blockers": [(code, reason)],
    "reason", "revision_due"} (the last two: what the user had typed, to fill the form again)."""
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
    reason = request.form.get("reason", "")
    raw_due = request.form.get("revision_due", "").strip()
    revision_due = None
    if raw_due:
        try:
            revision_due = dt.date.fromisoformat(raw_due)
        except ValueError:
            _refuse(case.id, name, [("", "the revision deadline is not a date")], reason, raw_due)
            return redirect(back, code=303)
    try:
        result = cases.fire(case, name, current_user, now=action_now(), expected_version=expected_version(),
                            reason=reason, revision_due=revision_due)
    except TransitionRefused as exc:
        db.session.rollback()
        _refuse(case.id, name, [(b.code, b.reason) for b in exc.blockers], reason, raw_due)
        return redirect(back, code=303)
    except NotPermitted as exc:
        # a role that may not fire it: shown like any other refusal, beside the actions
        db.session.rollback()
        _refuse(case.id, name, [("", exc.message)], reason, raw_due)
        return redirect(back, code=303)
    commit()
    if result.fired and name == "return_for_revision":
        flash(_("Done: the case was returned to the commune for revision, by %(date)s.",
                date=ddmmyyyy(case.revision_due)), "success")
    elif result.fired:
        flash(_("Done: the case moved to the stage “%(stage)s”.", stage=stage_title(result.dest)), "success")
    else:
        flash(_("Sent to the council for sign-off."), "success")
    return redirect(back, code=303)


def _refuse(case_id: int, name: str, blockers: list[tuple[str, str]], reason: str, revision_due: str) -> None:
    """Keep the refusal, and what the user typed, for the page the user goes back to."""
    session[REFUSAL_KEY] = {"case_id": case_id, "transition": name, "blockers": blockers,
                            "reason": reason[:4000], "revision_due": revision_due[:20]}


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
