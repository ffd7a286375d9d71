"""The survey pages: progress per commune and group, recording issued forms, importing returns, conversion.

Campaign-wide readers and the campaign's council see every commune; a commune officer or chair sees only
their own commune's rows; only the secretariat (and administrators) record, import and convert.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from models import db
from workflow import queries, survey, survey_import, txn
from workflow.errors import InvalidInput, NotFound, NotPermitted

from .common import action_now, now
from .i18n import select_locale, stage_title

bp = Blueprint("survey", __name__, url_prefix="/survey")

DEFAULT_UPLOAD_MAX_BYTES = 5 * 1024 * 1024

STATUS_LABELS = {
    survey.LATE: _l("overdue"),
    survey.DUE_SOON: _l("due soon"),
    survey.ON_TRACK: _l("on track"),
    survey.COMPLETE: _l("quota reached"),
    survey.OPEN: _l("no due date"),
    survey.NO_QUOTA: _l("no quota"),
}
MODE_LABELS = {"in_person": _l("in person"), "online": _l("online")}

# workflow.survey_import's reasons (English, as the CLI prints them) -> the reader's language
_REASONS: list[tuple[re.Pattern, object]] = [
    (re.compile(r"missing$"), lambda m: _("missing")),
    (re.compile(r"no commune '(.*)' in campaign (.*)$"),
     lambda m: _("no commune '%(code)s' in campaign %(key)s", code=m[1], key=m[2])),
    (re.compile(r"the case is in stage '(\w+)'; survey data can no longer change$"),
     lambda m: _("the case is in stage '%(stage)s'; survey data can no longer change", stage=stage_title(m[1]))),
    (re.compile(r"no respondent group '(.*)' in the plan \(groups: (.*)\)$"),
     lambda m: _("no respondent group '%(group)s' in the plan (groups: %(groups)s)", group=m[1], groups=m[2])),
    (re.compile(r"group '(.*)' has no forms in commune (.*) \(its quota there is 0\)$"),
     lambda m: _("group '%(group)s' has no forms in commune %(code)s (its quota there is 0)", group=m[1],
                 code=m[2])),
    (re.compile(r"give a weight for every group, or leave every one blank \(none for (.*)\)$"),
     lambda m: _("give a weight for every group, or leave every one blank (none for %(groups)s)", groups=m[1])),
    (re.compile(r"longer than (\d+) characters$"), lambda m: _("longer than %(n)s characters", n=m[1])),
    (re.compile(r"missing \(in_person or online\)$"), lambda m: _("missing (in_person or online)")),
    (re.compile(r"'(.*)' is not a mode \(in_person or online\)$"),
     lambda m: _("'%(value)s' is not a mode (in_person or online)", value=m[1])),
    (re.compile(r"'(.*)' is not an answer \(use A, B, C or D; leave blank; X for a spoilt answer\)$", re.S),
     lambda m: _("'%(value)s' is not an answer (use A, B, C or D; leave blank; X for a spoilt answer)",
                 value=m[1])),
    (re.compile(r"duplicate of row (\d+) \(commune (.*), group (.*), form (.*)\)$"),
     lambda m: _("duplicate of row %(row)s (commune %(code)s, group %(group)s, form %(form)s)", row=m[1],
                 code=m[2], group=m[3], form=m[4])),
    (re.compile(r"'(.*)' is not a survey question of this campaign \(questions: (.*)\)$"),
     lambda m: _("'%(value)s' is not a survey question of this campaign (questions: %(codes)s)", value=m[1],
                 codes=m[2])),
    (re.compile(r"unknown column '(.*)'$"), lambda m: _("unknown column '%(value)s'", value=m[1])),
    (re.compile(r"the column appears twice \(also column (\d+)\)$"),
     lambda m: _("the column appears twice (also column %(n)s)", n=m[1])),
    (re.compile(r"column missing from the header$"), lambda m: _("column missing from the header")),
    (re.compile(r"no question column .*like (.*)\)$"),
     lambda m: _("no question column (one per survey sub-criterion code, like %(code)s)", code=m[1])),
    (re.compile(r"larger than (\d+) KB$"), lambda m: _("larger than %(n)s KB", n=m[1])),
    (re.compile(r"unsupported file type '(.*)' \(use \.csv or \.xlsx\)$"),
     lambda m: _("unsupported file type '%(suffix)s' (use .csv or .xlsx)", suffix=m[1])),
    (re.compile(r"empty$"), lambda m: _("empty")),
    (re.compile(r"not a readable \.xlsx workbook"), lambda m: _("not a readable .xlsx workbook")),
    (re.compile(r"not a text \(CSV\) file$"), lambda m: _("not a text (CSV) file")),
    (re.compile(r"not UTF-8 text \(byte (\d+)\)$"), lambda m: _("not UTF-8 text (byte %(n)s)", n=m[1])),
    (re.compile(r"not a readable CSV file"), lambda m: _("not a readable CSV file")),
    (re.compile(r"the workbook has no sheet$"), lambda m: _("the workbook has no sheet")),
    (re.compile(r"campaign (.*) has no survey groups"),
     lambda m: _("campaign %(key)s has no survey groups (its plan has no survey block)", key=m[1])),
    (re.compile(r"more than (\d+) rows; split the file$"),
     lambda m: _("more than %(n)s rows; split the file", n=m[1])),
    (re.compile(r"the number of forms must be between 1 and 100000$"),
     lambda m: _("the number of forms must be between 1 and 100000")),
    (re.compile(r"'(.*)' is not a whole number of forms$"),
     lambda m: _("'%(value)s' is not a whole number of forms", value=m[1])),
    (re.compile(r"mode: (.*)$"), lambda m: reason(m[1])),
    (re.compile(r"the surveyor's name is longer than 200 characters$"),
     lambda m: _("the surveyor's name is longer than 200 characters")),
    (re.compile(r"'(.*)' is not a number$"), lambda m: _("'%(value)s' is not a number", value=m[1])),
    (re.compile(r"(.*) is outside 0\.\.(\d+)$"),
     lambda m: _("%(value)s is outside 0..%(max)s", value=m[1], max=m[2])),
    (re.compile(r"(.*) is negative$"), lambda m: _("%(value)s is negative", value=m[1])),
    (re.compile(r"at most two decimals$"), lambda m: _("at most two decimals")),
    (re.compile(r"give a weight for each of A, B, C and D$"), lambda m: _("give a weight for each of A, B, C and D")),
    (re.compile(r"no weight for (.*)$"), lambda m: _("no weight for %(groups)s", groups=m[1])),
    (re.compile(r"at least one group needs a weight above 0$"),
     lambda m: _("at least one group needs a weight above 0")),
    (re.compile(r"the group weights no longer match the plan's respondent groups; set them again$"),
     lambda m: _("the group weights no longer match the plan's respondent groups; set them again")),
    (re.compile(r"Only the secretariat may record survey data\.$"),
     lambda m: _("Only the secretariat may record survey data.")),
]


def reason(text: str) -> str:
    """A reason from workflow.survey(_import) in the reader's language (as written if unknown)."""
    for pattern, render in _REASONS:
        match = pattern.match(text)
        if match:
            return render(match)
    return text


@bp.app_template_filter("survey_reason")
def survey_reason(text: str) -> str:
    return reason(text)


# the Vietnamese headers the import also reads, for a Vietnamese report
_COLUMNS_VI = {**survey_import.HEADERS_VI, "file": "tệp", "questions": "câu hỏi"}


@bp.app_template_filter("survey_column")
def survey_column(name: str | None) -> str:
    """A column of the import file as the reader's language heads it (question codes as they are)."""
    if not name:
        return ""
    return _COLUMNS_VI.get(name, name) if select_locale() == "vi" else name


def _campaign_or_404(key: str):
    campaign = survey.campaign_by_key(key)
    if campaign is None:
        abort(404)
    try:
        scope = survey.progress_scope(current_user, campaign)
    except NotPermitted:
        abort(404)  # as for a case: "missing" and "not yours" look the same
    return campaign, scope


def _writer_or_403():
    if not survey.can_write(current_user):
        abort(403)


@bp.route("")
@login_required
def index():
    """The newest campaign with a survey this user may follow."""
    for campaign in queries.campaigns_visible_to(current_user):
        if survey.groups_of(campaign):
            try:
                survey.progress_scope(current_user, campaign)
            except NotPermitted:
                continue
            return redirect(url_for("survey.progress", key=campaign.key))
    return render_template("survey/none.html")


def _render_progress(campaign, scope, *, issue_values=None, issue_error=None, weight_values=None,
                     weight_error=None, status=200):
    state = survey.progress(campaign, now=now(), commune_ids=scope)
    writer = survey.can_write(current_user)
    computed = {}
    if scope is None:
        results = survey.compute(campaign)
        codes = {c.id: c.code for c in (cc.commune for cc in survey.cases_by_code(campaign).values())}
        computed = {codes[cid]: items for cid, items in results.items() if cid in codes}
    return render_template(
        "survey/progress.html", campaign=campaign, state=state, writer=writer, scoped=scope is not None,
        groups=survey.groups_of(campaign), weights=survey.weights_of(campaign), items=survey.survey_items(campaign),
        computed=computed, status_labels=STATUS_LABELS, mode_labels=MODE_LABELS,
        communes=sorted({(r.commune_code, r.commune_name) for r in state.rows if r.commune_code}),
        issue_values=issue_values or {}, issue_error=issue_error, weight_values=weight_values,
        weight_error=weight_error), status


@bp.route("/<key>")
@login_required
def progress(key: str):
    campaign, scope = _campaign_or_404(key)
    return _render_progress(campaign, scope)


@bp.route("/<key>/issue", methods=["POST"])
@login_required
def issue(key: str):
    _writer_or_403()
    campaign, scope = _campaign_or_404(key)
    values = {name: request.form.get(name, "").strip() for name in ("commune", "group", "count", "mode", "surveyor")}
    try:
        with txn.guarded():
            survey.record_issue(campaign, values["commune"], values["group"], values["count"] or "0",
                                actor=current_user, now=action_now(), mode=values["mode"] or "in_person",
                                surveyor=values["surveyor"])
        txn.commit()
    except (InvalidInput, NotFound) as exc:
        db.session.rollback()
        return _render_progress(campaign, scope, issue_values=values, issue_error=reason(exc.message), status=422)
    flash(_("Recorded %(n)s form(s) issued.", n=values["count"]), "success")
    return redirect(url_for("survey.progress", key=key), 303)


def _weight_field(name: str) -> str:
    """Where a weights error is shown: options.A -> the A box ("A"), groups.<code> -> that group's box
    ("g:<code>"), options or groups (the whole block) above its boxes."""
    if name.startswith("options."):
        return name.removeprefix("options.")
    if name.startswith("groups."):
        return "g:" + name.removeprefix("groups.")
    return name


@bp.route("/<key>/weights", methods=["POST"])
@login_required
def weights(key: str):
    """Option weights (all of A-D, percent) and group weights (every group, or all blank for none)."""
    _writer_or_403()
    campaign, scope = _campaign_or_404(key)
    options = {k: request.form.get(f"option_{k}", "").strip() for k in survey.OPTIONS}
    groups = {g.code: request.form.get(f"group_{g.code}", "").strip() for g in survey.groups_of(campaign)}
    weighted = any(groups.values())
    try:
        with txn.guarded():
            survey.set_weights(campaign, actor=current_user, now=action_now(), options=options,
                               groups=groups if weighted else None, clear_groups=not weighted)
        txn.commit()
    except InvalidInput as exc:
        db.session.rollback()
        errors = {_weight_field(name): reason(msgs[0]) for name, msgs in exc.errors.items()}
        return _render_progress(campaign, scope, weight_values={**options, **{f"g:{k}": v for k, v in groups.items()}},
                                weight_error=errors, status=422)
    flash(_("The survey weights were saved."), "success")
    return redirect(url_for("survey.progress", key=key), 303)


@bp.route("/<key>/convert", methods=["POST"])
@login_required
def convert(key: str):
    _writer_or_403()
    campaign, _scope = _campaign_or_404(key)
    try:
        with txn.guarded():
            report = survey.convert(campaign, actor=current_user, now=action_now())
        txn.commit()
    except InvalidInput as exc:
        db.session.rollback()
        flash(reason(exc.message), "error")
        return redirect(url_for("survey.progress", key=key), 303)
    flash(_("Survey points: %(changed)s set, %(unchanged)s unchanged, %(missing)s sub-criteria without valid "
            "answers, %(skipped)s communes skipped (their cases are past the survey).", changed=report.changed,
            unchanged=report.unchanged, missing=len(report.missing), skipped=len(report.skipped)),
          "success" if not report.missing else "warning")
    return redirect(url_for("survey.progress", key=key), 303)


@bp.get("/<key>/import/template.xlsx")
@login_required
def import_template(key: str):
    """A blank import file for this campaign, headed in the reader's language."""
    _writer_or_403()
    campaign, _scope = _campaign_or_404(key)
    vietnamese = select_locale() == "vi"
    body = survey_import.template_xlsx(campaign, vietnamese=vietnamese)
    name = f"{'mau-phieu' if vietnamese else 'survey-forms'}-{campaign.key}.xlsx"
    return Response(body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/<key>/import", methods=["GET", "POST"])
@login_required
def import_forms(key: str):
    _writer_or_403()
    campaign, _scope = _campaign_or_404(key)
    limit = current_app.config.get("SURVEY_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES)
    report, refusal = None, None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            refusal = _("Choose a file.")
        elif PurePath(upload.filename).suffix.lower() not in (".csv", ".xlsx"):
            refusal = _("Only CSV (.csv) or Excel (.xlsx) files can be imported.")
        else:
            with txn.guarded():
                report = survey.import_file(campaign, upload.stream, actor=current_user, now=action_now(),
                                            filename=PurePath(upload.filename).name, max_bytes=limit)
            if report.ok:
                txn.commit()
            else:
                db.session.rollback()
    status = 422 if refusal or (report is not None and not report.ok) else 200
    return render_template("survey/import.html", campaign=campaign, report=report, refusal=refusal,
                           items=survey.survey_items(campaign), groups=survey.groups_of(campaign),
                           limit_kb=limit // 1024), status
