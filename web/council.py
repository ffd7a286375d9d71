"""The council member's inbox of pending sign-offs: approve or reject, one or several at once.

Only council members (and the chair) holding a seat in the sign-off's campaign see it: any other role
gets 403, and a sign-off of a campaign where the member has no seat is answered 404 (like a missing one).

Approving several at once signs each selected sign-off through ``workflow.signoff.sign`` in its OWN
transaction (sign, commit; or roll back that one alone), so one refusal (closed meanwhile, case changed
since the inbox was read, a guard no longer met) never loses the others; the page then reports what
happened to each.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from models import Case, SignOff, db
from states import COUNCIL_ROLES
from workflow import history, signoff
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted, TransitionRefused
from workflow.txn import commit

from .common import action_now, expected_version, roles_required

bp = Blueprint("council", __name__, url_prefix="/council")

# the most sign-offs one "approve selected" handles (a bigger form is refused whole, before any change)
BULK_LIMIT = 200

TRANSITION_TITLES = {
    "open": _l("open the case"),
    "submit": _l("submit the self-assessment"),
    "return_for_revision": _l("return for revision"),
    "complete_appraisal": _l("complete the appraisal"),
    "record_survey": _l("record the survey points"),
    "approve": _l("approve the result for publication"),
    "reopen": _l("reopen the council meeting"),
}

# what happened to one sign-off of a bulk approval -> its message
OUTCOMES = {
    "approved": _l("Approved."),
    "fired": _l("Approved; the quorum is reached and the case moved on."),
    "changed": _l("Not signed: the case changed since you opened the inbox. Open it and check again."),
    "closed": _l("Not signed: this sign-off is already closed."),
    "already_signed": _l("Not signed: you have already signed it."),
    "blocked": _l("Not signed: the transition is no longer possible."),
    "not_permitted": _l("Not signed: you may not sign this."),
    "not_found": _l("Not signed: no such sign-off in your campaigns."),
}


def transition_title(name: str) -> str:
    title = TRANSITION_TITLES.get(name)
    return str(title) if title is not None else name


@bp.context_processor
def _helpers():
    return {"transition_title": transition_title, "outcome_text": lambda code: str(OUTCOMES.get(code, code))}


def _sign_off_or_404(sign_off_id: int) -> SignOff:
    found = history.sign_off_for_member(current_user, sign_off_id)
    if found is None:
        abort(404)
    return found


@bp.route("")
@roles_required(*COUNCIL_ROLES)
def inbox():
    """Pending sign-offs of the member's campaigns (with quorum progress) and the recently closed ones."""
    pending, closed = history.council_inbox(current_user)
    return render_template("council/inbox.html", pending=pending, closed=closed, results=None)


def _render_sign_off(so: SignOff, *, status: int = 200, errors: dict | None = None, message: str | None = None,
                     blockers=None):
    view = history.sign_off_view(so, current_user)
    return render_template("council/sign_off.html", v=view, errors=errors or {}, message=message,
                           blockers=blockers or [], form=request.form), status


@bp.route("/sign-offs/<int:sign_off_id>")
@roles_required(*COUNCIL_ROLES)
def sign_off(sign_off_id: int):
    """The scores and evidence a member signs over, the content hash, the signatures so far."""
    return _render_sign_off(_sign_off_or_404(sign_off_id))


@bp.route("/sign-offs/<int:sign_off_id>", methods=["POST"])
@roles_required(*COUNCIL_ROLES)
def sign(sign_off_id: int):
    """Approve or reject (a rejection needs a comment), checked against the case version of the page."""
    so = _sign_off_or_404(sign_off_id)
    page = url_for("council.sign_off", sign_off_id=so.id)
    decision = request.form.get("decision", "")
    comment = request.form.get("comment", "")
    if decision not in ("approve", "reject"):
        return _render_sign_off(so, status=400, errors={"decision": _("Choose approve or reject.")})
    if decision == "reject" and not comment.strip():
        return _render_sign_off(so, status=400, errors={"comment": _("A rejection needs a comment.")})
    if so.status != "pending":
        flash(_("This sign-off is already closed."), "error")
        return redirect(page, code=303)
    case = db.session.get(Case, so.case_id)
    stage_before = case.stage
    try:
        # Conflict (stale version) goes to the 409 page; NotPermitted to the 403 page
        signoff.sign(case, current_user, decision, now=action_now(), comment=comment,
                     expected_version=expected_version())
    except TransitionRefused as exc:
        db.session.rollback()
        return _render_sign_off(db.session.get(SignOff, sign_off_id), status=400,
                                message=_("Your approval was not recorded: the transition is no longer "
                                          "possible."), blockers=[(b.code, b.reason) for b in exc.blockers])
    except NotFound:
        db.session.rollback()
        flash(_("This sign-off is already closed."), "error")
        return redirect(page, code=303)
    except InvalidInput as exc:
        db.session.rollback()
        return _render_sign_off(db.session.get(SignOff, sign_off_id), status=400, message=exc.message)
    commit()
    if decision == "reject":
        flash(_("Rejected. The sign-off is closed and the case stays where it is."), "success")
    elif case.stage != stage_before:
        flash(_("Approved. The quorum is reached and the case moved on."), "success")
    else:
        flash(_("Approved. The sign-off awaits more signatures."), "success")
    return redirect(url_for("council.inbox"), code=303)


def _approve_one(so: SignOff, raw_version: str, comment: str | None) -> tuple[str, list]:
    """Sign one sign-off of a bulk approval in its own transaction: (outcome code, blockers)."""
    if so.status != "pending":
        return "closed", []
    if not raw_version.isdigit():
        return "changed", []
    case = db.session.get(Case, so.case_id)
    stage_before = case.stage
    try:
        signoff.sign(case, current_user, "approve", now=action_now(), comment=comment,
                     expected_version=int(raw_version))
        commit()
    except Conflict:
        db.session.rollback()
        return "changed", []
    except NotFound:
        db.session.rollback()
        return "closed", []
    except NotPermitted:
        db.session.rollback()
        return "not_permitted", []
    except InvalidInput:
        db.session.rollback()
        return "already_signed", []
    except TransitionRefused as exc:
        db.session.rollback()
        return "blocked", [(b.code, b.reason) for b in exc.blockers]
    return ("fired" if case.stage != stage_before else "approved"), []


@bp.route("/approve", methods=["POST"])
@roles_required(*COUNCIL_ROLES)
def approve_selected():
    """Approve every checked sign-off; report per item what happened (one transaction per sign-off)."""
    ids = list(dict.fromkeys(int(raw) for raw in request.form.getlist("sign_off") if raw.isdigit()))
    if not ids:
        flash(_("Select at least one sign-off to approve."), "error")
        return redirect(url_for("council.inbox"), code=303)
    if len(ids) > BULK_LIMIT:
        abort(400)
    comment = request.form.get("comment", "").strip() or None
    results = []
    for sign_off_id in ids:
        so = history.sign_off_for_member(current_user, sign_off_id)
        if so is None:
            results.append({"id": sign_off_id, "outcome": "not_found", "blockers": [], "label": None})
            continue
        case = db.session.get(Case, so.case_id)
        label = {"commune": f"{case.commune.code} {case.commune.name}", "campaign": case.campaign.key,
                 "transition": so.transition}
        outcome, blockers = _approve_one(so, request.form.get(f"version-{sign_off_id}", ""), comment)
        results.append({"id": sign_off_id, "outcome": outcome, "blockers": blockers, "label": label})
    # rendered here rather than redirected: the per-item report can be too big for the session cookie;
    # sending the form again only reports "already signed"
    pending, closed = history.council_inbox(current_user)
    return render_template("council/inbox.html", pending=pending, closed=closed, results=results)
