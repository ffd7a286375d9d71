"""The remediation plan page of a case: the officer fills it in and submits; the secretariat returns it or
marks items done; everyone who may see the case reads it and downloads it (DOCX, PDF)."""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required

from models import RemediationPlan, db
from states import Role, Stage
from workflow import access, remediation, remediation_export
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted
from workflow.remediation import ItemRow, ItemsRefused, PlanIncomplete
from workflow.txn import commit

from .common import action_now, case_or_404, expected_version, roles_required

bp = Blueprint("remediation", __name__, url_prefix="/cases")

WRITERS = (Role.commune_officer, Role.secretariat, Role.secretariat_head, Role.admin)
SECRETARIAT = (Role.secretariat, Role.secretariat_head, Role.admin)
EXPORTERS = {"docx": remediation_export.to_docx, "pdf": remediation_export.to_pdf}
STATUS_LABELS = {"draft": _l("draft"), "submitted": _l("submitted"), "returned": _l("returned to the commune"),
                 "open": _l("open"), "done": _l("done"), "carried": _l("carried into next year"),
                 "cleared": _l("no longer lost (score corrected)")}
FIELD_LABELS = {"responsible": _l("responsible person"), "action": _l("action"), "due": _l("due date")}
# the workflow's reasons for a refused row, in the reader's language
ROW_REASONS = {"not a date": _l("not a date"), "the due date is in the past": _l("the due date is in the past"),
               "at most 200 characters": _l("at most 200 characters"),
               "at most 4000 characters": _l("at most 4000 characters"),
               "already done; it cannot change": _l("already done; it cannot change"),
               "no such item in this plan": _l("no such item in this plan")}


def _plan_or_404(case) -> RemediationPlan:
    plan = remediation.plan_of(case)
    if plan is None:
        abort(404)
    return plan


def _plan_version() -> int | None:
    return expected_version("plan_version")


def _back(case):
    return redirect(url_for("remediation.plan", case_id=case.id), code=303)


def _not_editable(case, plan):
    """Another commune's officer is refused; the commune's own officer is told the plan is not open."""
    db.session.rollback()
    if not remediation.may_edit(current_user, plan):
        abort(403)
    flash(_("The plan is submitted: it can be changed again only if the secretariat returns it."), "error")
    return _back(case)


def _render(case, plan, *, typed=None, errors=None, status=200):
    editable = plan is not None and remediation.may_edit(current_user, plan) and plan.status in remediation.EDITABLE
    is_secretariat = current_user.has_role(*SECRETARIAT)
    may_draft = (plan is None and case.stage == Stage.publication
                 and (is_secretariat or (current_user.has_role(Role.commune_officer)
                                         and access.in_commune_scope(current_user, case))))
    reasons = {code: [str(ROW_REASONS.get(r, r)) for rs in fields.values() for r in rs]
               for code, fields in (errors or {}).items()}
    return render_template(
        "remediation/plan.html", case=case, plan=plan, editable=editable, may_draft=may_draft,
        may_follow_up=plan is not None and is_secretariat and plan.status == "submitted",
        deadlines=remediation.deadlines_of(plan) if plan else {}, typed=typed or {}, errors=reasons,
        lost=sum((i.lost for i in plan.items), start=0) if plan else 0,
        status_labels={k: str(v) for k, v in STATUS_LABELS.items()},
    ), status


@bp.route("/<int:case_id>/remediation")
@login_required
def plan(case_id: int):
    """The plan as this user may read or fill it in."""
    case = case_or_404(case_id)
    return _render(case, remediation.plan_of(case))


@bp.route("/<int:case_id>/remediation/draft", methods=["POST"])
@roles_required(*WRITERS)
def draft(case_id: int):
    """Draft the plan of a published case that has none (cases published before plans existed)."""
    case = case_or_404(case_id)
    if not (current_user.has_role(*SECRETARIAT) or access.in_commune_scope(current_user, case)):
        abort(403)
    try:
        remediation.generate_plan(case, actor=current_user, now=action_now())
    except NotPermitted:
        db.session.rollback()
        flash(_("A remediation plan is drafted after publication."), "error")
        return _back(case)
    commit()
    flash(_("The remediation plan was drafted from the lost points."), "success")
    return _back(case)


@bp.route("/<int:case_id>/remediation/items", methods=["POST"])
@roles_required(Role.commune_officer)
def save(case_id: int):
    """The officer's entries: responsible person, action and due date per item, all or nothing."""
    case = case_or_404(case_id)
    plan = _plan_or_404(case)
    rows, typed = [], {}
    for raw in request.form.getlist("items"):
        if not raw.isdigit():
            abort(400)
        row = ItemRow(int(raw), request.form.get(f"responsible-{raw}", ""), request.form.get(f"action-{raw}", ""),
                      request.form.get(f"due-{raw}", ""))
        rows.append(row)
        typed[row.item_id] = row
    try:
        changed = remediation.save_items(plan, rows, current_user, now=action_now(), expected_version=_plan_version())
    except ItemsRefused as exc:
        db.session.rollback()
        flash(ngettext("%(num)d item has an invalid value; nothing was saved.",
                       "%(num)d items have invalid values; nothing was saved.", len(exc.item_errors)), "error")
        return _render(case, plan, typed=typed, errors=exc.item_errors, status=422)
    except NotPermitted:
        return _not_editable(case, plan)
    except Conflict:
        db.session.rollback()
        flash(_("Someone else changed this plan. Reload the page and try again."), "error")
        return _back(case)
    commit()
    if changed:
        flash(ngettext("Saved: %(num)d item changed.", "Saved: %(num)d items changed.", len(changed)), "success")
    else:
        flash(_("Nothing to save: no value was changed."), "info")
    return _back(case)


@bp.route("/<int:case_id>/remediation/submit", methods=["POST"])
@roles_required(Role.commune_officer)
def submit(case_id: int):
    """Submit the plan; refused, naming the items, while one is incomplete."""
    case = case_or_404(case_id)
    plan = _plan_or_404(case)
    try:
        remediation.submit(plan, current_user, now=action_now(), expected_version=_plan_version())
    except PlanIncomplete as exc:
        db.session.rollback()
        lines = [f"{code} ({', '.join(str(FIELD_LABELS[f]) for f in fields)})" for code, fields in exc.missing]
        flash(_("The plan cannot be submitted yet; incomplete items: %(items)s", items="; ".join(lines)), "error")
        return _back(case)
    except NotPermitted:
        return _not_editable(case, plan)
    except Conflict:
        db.session.rollback()
        flash(_("Someone else changed this plan. Reload the page and try again."), "error")
        return _back(case)
    commit()
    flash(_("The remediation plan was submitted."), "success")
    return _back(case)


@bp.route("/<int:case_id>/remediation/return", methods=["POST"])
@roles_required(*SECRETARIAT)
def return_plan(case_id: int):
    """The secretariat sends the plan back to the commune with a reason."""
    case = case_or_404(case_id)
    plan = _plan_or_404(case)
    try:
        remediation.return_plan(plan, current_user, now=action_now(), reason=request.form.get("reason", ""),
                                expected_version=_plan_version())
    except InvalidInput:
        db.session.rollback()
        flash(_("Give a reason for returning the plan."), "error")
        return _back(case)
    except (NotPermitted, Conflict):
        db.session.rollback()
        flash(_("The plan can be returned only once it is submitted; reload the page."), "error")
        return _back(case)
    commit()
    flash(_("The plan was returned to the commune."), "success")
    return _back(case)


@bp.route("/<int:case_id>/remediation/done", methods=["POST"])
@roles_required(*SECRETARIAT)
def mark_done(case_id: int):
    """The secretariat records one item (form field ``item_id``) as done."""
    case = case_or_404(case_id)
    plan = _plan_or_404(case)
    raw = request.form.get("item_id", "").strip()
    if not raw.isdigit():
        abort(400)
    try:
        item = remediation.mark_done(plan, int(raw), current_user, now=action_now(), expected_version=_plan_version())
    except NotFound:
        db.session.rollback()
        abort(404)
    except (NotPermitted, Conflict):
        db.session.rollback()
        flash(_("This item cannot be marked done now; reload the page."), "error")
        return _back(case)
    commit()
    flash(_("Item %(code)s marked done.", code=item.code), "success")
    return _back(case)


def _download(case_id: int, fmt: str, media_type: str):
    case = case_or_404(case_id)
    plan = _plan_or_404(case)
    data = EXPORTERS[fmt](plan, now=action_now())
    response = send_file(io.BytesIO(data), mimetype=media_type, as_attachment=True,
                         download_name=remediation_export.file_name(plan, fmt), max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/<int:case_id>/remediation.docx")
@login_required
def export_docx(case_id: int):
    """The plan as a Word document."""
    return _download(case_id, "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")


@bp.route("/<int:case_id>/remediation.pdf")
@login_required
def export_pdf(case_id: int):
    """The plan as a PDF."""
    return _download(case_id, "pdf", "application/pdf")
