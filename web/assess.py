"""The commune's self-assessment form and the secretariat's appraisal form."""

from __future__ import annotations

from collections import defaultdict

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from models import Case, db
from states import Role, Stage
from workflow import access, assessment_forms, cases, remediation
from workflow import evidence as evidence_ops
from workflow.assessment_forms import AppraisalRow, FormRefused, SelfRow, Upload
from workflow.txn import commit

from .case_actions import pop_refusal
from .common import action_now, case_or_404, expected_version, roles_required
from .messages import translate

bp = Blueprint("assess", __name__, url_prefix="/cases")

COMMUNE_ROLES = (Role.commune_officer, Role.commune_chair)
APPRAISERS = (Role.secretariat, Role.secretariat_head, Role.admin)
UPLOAD_REFUSED_KEY = "assess_upload_refused"


# --- shared -----------------------------------------------------------------------------------------

def _own_commune_case(case_id: int) -> Case:
    case = case_or_404(case_id)
    # a commune user who also reads campaign-wide (e.g. an auditor) still only fills in their own commune
    if not access.in_commune_scope(current_user, case):
        abort(404)
    return case


def _may_edit_self(case: Case) -> bool:
    return current_user.has_role(Role.commune_officer) and case.stage_enum == Stage.self_assessment


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest" or \
        request.accept_mimetypes.best == "application/json"


def _blockers_by_code(blockers) -> tuple[dict[str, list[str]], list[str]]:
    by_code: dict[str, list[str]] = defaultdict(list)
    general: list[str] = []
    for code, reason in blockers:
        (by_code[code] if code else general).append(reason)
    return dict(by_code), general


def _action(actions, name: str):
    """(name, blockers) of ``name`` if the user holds a role for it, else None."""
    return next(((n, b) for n, b in actions if n == name), None)


def _upload_limits() -> dict:
    limit = int(current_app.config.get("EVIDENCE_MAX_BYTES") or evidence_ops.DEFAULT_MAX_BYTES)
    types = sorted({ext.lstrip(".").upper() for ext in evidence_ops.ALLOWED} - {"JPEG"})
    size_mb = f"{limit / 1048576:.1f}".removesuffix(".0").replace(".", ",")
    return {"max_bytes": limit, "size_mb": size_mb, "types": types, "accept": ",".join(sorted(evidence_ops.ALLOWED))}


def _refusal_view(case: Case, readiness: list) -> dict:
    """Blockers to show beside items: a refusal just returned by the fire endpoint, else the readiness check."""
    refusal = pop_refusal(case.id)
    blockers = refusal["blockers"] if refusal else [(b.code, b.reason) for b in readiness]
    by_code, general = _blockers_by_code(blockers)
    reasons = [r for rs in by_code.values() for r in rs]
    return {"refusal": refusal, "blockers": by_code, "general": general,
            "no_score": sum(1 for r in reasons if r == "no score"),
            "need_evidence": sum(1 for r in reasons if r == "evidence required"),
            "not_appraised": sum(1 for r in reasons if r == "not appraised")}


# --- self-assessment --------------------------------------------------------------------------------

def _self_typed(form) -> tuple[list[SelfRow], dict[str, dict]]:
    rows, typed = [], {}
    for code in form.getlist("rows"):
        row = SelfRow(code=code, score=form.get(f"score-{code}", ""), not_applicable=bool(form.get(f"na-{code}")),
                      explanation=form.get(f"explanation-{code}", ""))
        rows.append(row)
        typed[code] = {"score": row.score, "na": row.not_applicable, "explanation": row.explanation}
    return rows, typed


def _render_self(case: Case, *, typed: dict | None = None, errors: dict | None = None,
                 version: int | None = None, status: int = 200):
    view = assessment_forms.form_view(case)
    actions = cases.available_actions(case, current_user)
    submit = _action(actions, "submit")
    uploads = session.pop(UPLOAD_REFUSED_KEY, None)
    upload_refused = uploads["refused"] if uploads and uploads.get("case_id") == case.id else {}
    return render_template(
        "assess/self_assessment.html", view=view, case=case, editable=_may_edit_self(case), typed=typed or {},
        errors=errors or {}, version=version if version is not None else case.version, submit=submit,
        upload_refused=upload_refused, limits=_upload_limits(),
        previous=remediation.previous_items(case),  # last year's remediation items, by sub-criterion
        **_refusal_view(case, submit[1] if submit else []),
    ), status


@bp.route("/<int:case_id>/self-assessment", methods=["GET", "POST"])
@roles_required(*COMMUNE_ROLES)
def self_assessment(case_id: int):
    """The commune's form: every sub-criterion with score, N/A, explanation and evidence; save draft; submit."""
    case = _own_commune_case(case_id)
    if request.method == "GET":
        return _render_self(case)
    if not current_user.has_role(Role.commune_officer):
        abort(403)  # the chair reads the form; the officer fills it in (the stage is checked by the workflow)
    rows, typed = _self_typed(request.form)
    version = expected_version()
    try:
        changed = assessment_forms.save_self_assessment(case, rows, current_user, now=action_now(),
                                                        expected_version=version)
    except FormRefused as exc:
        db.session.rollback()
        return _render_self(case, typed=typed, errors=exc.item_errors, version=version, status=422)
    commit()
    if changed:
        flash(ngettext("Draft saved: %(num)d sub-criterion changed.",
                       "Draft saved: %(num)d sub-criteria changed.", len(changed)), "success")
    else:
        flash(_("Nothing to save: no value was changed."), "info")
    return redirect(url_for("assess.self_assessment", case_id=case.id), code=303)


def _evidence_reply(case: Case, code: str, refused: list[tuple[str, str]], added: int):
    """JSON for the page's script (the item's new evidence list and the case's new version), else a redirect."""
    back = url_for("assess.self_assessment", case_id=case.id) + f"#item-{code}"
    if _wants_json():
        view = assessment_forms.form_view(case)
        line = next((ln for ln in view.lines if ln.item.code == code), None)
        html = render_template("assess/_evidence.html", line=line, case=case, can_remove=_may_edit_self(case)) \
            if line else ""
        return jsonify(ok=not refused, added=added, version=case.version, html=html,
                       refused=[{"file_name": name, "reason": translate(reason)} for name, reason in refused])
    if refused:
        session[UPLOAD_REFUSED_KEY] = {"case_id": case.id, "refused": {code: [list(r) for r in refused]}}
    if added:
        flash(ngettext("%(num)d file attached.", "%(num)d files attached.", added), "success")
    return redirect(back, code=303)


@bp.route("/<int:case_id>/self-assessment/evidence", methods=["POST"])
@roles_required(Role.commune_officer)
def upload_evidence(case_id: int):
    """Attach one or more files to one sub-criterion (plain form post, or XHR from assess.js)."""
    case = _own_commune_case(case_id)
    code = request.form.get("code", "").strip()
    if not code:
        abort(400)
    files = [Upload(f.filename or "", f.read(), f.mimetype) for f in request.files.getlist("files") if f.filename]
    result = assessment_forms.add_evidence_files(case, code, files, current_user, now=action_now(),
                                                 locator=request.form.get("locator"),
                                                 expected_version=expected_version())
    if result.added:
        commit()
    else:
        db.session.rollback()
    return _evidence_reply(case, code, result.refused, len(result.added))


@bp.route("/<int:case_id>/self-assessment/evidence/<int:evidence_id>/remove", methods=["POST"])
@roles_required(Role.commune_officer)
def remove_evidence(case_id: int, evidence_id: int):
    """Remove one evidence file (kept in the store: the history cites it)."""
    case = _own_commune_case(case_id)
    row = evidence_ops.remove_evidence(case, evidence_id, current_user, now=action_now(),
                                       expected_version=expected_version())
    code = row.item.code
    commit()
    if not _wants_json():
        flash(_("File removed: %(name)s", name=row.file_name), "success")
    return _evidence_reply(case, code, [], 0)


# --- appraisal --------------------------------------------------------------------------------------

def _appraisal_typed(form) -> tuple[list[AppraisalRow], dict[str, dict]]:
    rows, typed = [], {}
    for code in form.getlist("rows"):
        row = AppraisalRow(code=code, score=form.get(f"appraised-{code}", ""), note=form.get(f"note-{code}", ""))
        rows.append(row)
        typed[code] = {"score": row.score, "note": row.note}
    return rows, typed


def _render_appraisal(case: Case, *, typed: dict | None = None, errors: dict | None = None,
                      version: int | None = None, status: int = 200):
    view = assessment_forms.form_view(case)
    actions = cases.available_actions(case, current_user)
    complete = _action(actions, "complete_appraisal")
    give_back = _action(actions, "return_for_revision")
    return render_template(
        "assess/appraisal.html", view=view, case=case, editable=case.stage_enum == Stage.appraisal,
        typed=typed or {}, errors=errors or {}, version=version if version is not None else case.version,
        complete=complete, give_back=give_back,
        revision_due=assessment_forms.default_revision_due(case, action_now()),
        **_refusal_view(case, complete[1] if complete else []),
    ), status


@bp.route("/<int:case_id>/appraisal", methods=["GET", "POST"])
@roles_required(*APPRAISERS)
def appraisal(case_id: int):
    """The secretariat's form: appraised score and note beside each self score and its evidence."""
    case = case_or_404(case_id)
    if request.method == "GET":
        return _render_appraisal(case)
    rows, typed = _appraisal_typed(request.form)
    version = expected_version()
    try:
        changed = assessment_forms.save_appraisal(case, rows, current_user, now=action_now(),
                                                  expected_version=version)
    except FormRefused as exc:
        db.session.rollback()
        return _render_appraisal(case, typed=typed, errors=exc.item_errors, version=version, status=422)
    commit()
    if changed:
        flash(ngettext("Appraisal saved: %(num)d sub-criterion changed.",
                       "Appraisal saved: %(num)d sub-criteria changed.", len(changed)), "success")
    else:
        flash(_("Nothing to save: no value was changed."), "info")
    return redirect(url_for("assess.appraisal", case_id=case.id), code=303)
