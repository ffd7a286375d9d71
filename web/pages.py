"""The home redirect (each role to its own start page), the scoped case list and the case page."""

from __future__ import annotations

from numbers import Number

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from states import STAGE_TITLES_VI, Role
from workflow import assessment_forms, queries, remediation
from workflow.clock import local_date
from workflow.errors import Blocker

from .case_actions import pop_refusal
from .common import action_now, case_or_404, now
from .i18n import points

bp = Blueprint("pages", __name__)


# each role's home page; the first whose endpoint exists and whose roles the user holds wins
HOMES = (
    ("board.board", {Role.secretariat, Role.secretariat_head, Role.admin, Role.authority_leader}),
    ("council.inbox", {Role.council_member, Role.council_chair}),
    ("auditor.search", {Role.auditor}),
)


@bp.route("/")
@login_required
def home():
    # ?as_of= (and any filter) goes along: "/?as_of=2023-11-28" opens one's home as it stood then
    args = request.args.to_dict()
    for endpoint, roles in HOMES:
        if current_user.roles & roles and endpoint in current_app.view_functions:
            return redirect(url_for(endpoint, **args))
    return redirect(url_for("pages.index", **args))


@bp.route("/cases")
@login_required
def index():
    campaigns = queries.campaigns_visible_to(current_user)
    wanted = request.args.get("campaign")
    campaign = next((c for c in campaigns if c.key == wanted), campaigns[0] if campaigns else None)
    if wanted and (campaign is None or campaign.key != wanted):
        abort(404)
    rows = queries.case_rows(current_user, campaign, now()) if campaign else []
    return render_template("cases.html", campaigns=campaigns, campaign=campaign, rows=rows,
                           as_of=request.args.get("as_of", ""))


# the assessment forms another blueprint serves: (form, endpoint); linked only when the endpoint exists
FORM_ENDPOINTS = (("self_assessment", "assess.self_assessment"), ("appraisal", "assess.appraisal"))

# what the page calls each transition (the button) and each audit action (the timeline)
TRANSITION_LABELS = {
    "open": _l("Open the case"),
    "submit": _l("Submit the self-assessment"),
    "return_for_revision": _l("Return for revision"),
    "complete_appraisal": _l("Complete the appraisal"),
    "record_survey": _l("Survey points are in"),
    "approve": _l("Approve the results"),
    "reopen": _l("Reopen the council meeting"),
}
ACTION_LABELS = {
    "case.created": _l("Case created"),
    "case.transition": _l("Stage changed"),
    "score.changed": _l("Score changed"),
    "evidence.added": _l("Evidence added"),
    "evidence.removed": _l("Evidence removed"),
    "signoff.requested": _l("Sign-off requested"),
    "signoff.signed": _l("Signature recorded"),
    "signoff.closed": _l("Sign-off closed"),
    "deadline.moved": _l("Deadline moved"),
    "reminder.skipped": _l("Reminder not sent"),
    "remediation.drafted": _l("Remediation plan drafted"),
    "remediation.updated": _l("Remediation plan updated from the results"),
    "remediation.item_changed": _l("Remediation item changed"),
    "remediation.submitted": _l("Remediation plan submitted"),
    "remediation.returned": _l("Remediation plan returned"),
    "remediation.item_done": _l("Remediation item done"),
    "remediation.carried_forward": _l("Remediation items carried forward"),
}
FIELD_LABELS = {
    "self_score": _l("self score"),
    "appraised_score": _l("appraised score"),
    "survey_score": _l("survey points"),
    "not_applicable": _l("not applicable"),
}
BLOCKERS_SHOWN = 8  # an action blocked by many items lists the first ones and the count


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page links: the site's icon (public, like /static)."""
    return current_app.send_static_file("favicon.svg")


@bp.route("/cases/<int:case_id>")
@login_required
def case(case_id: int):
    """The case as this user may see and act on it; ``?history=all`` shows the whole timeline."""
    # the same 404 for "missing" and "not yours": a case's existence is not disclosed
    found = case_or_404(case_id)
    show_all = request.args.get("history") == "all"
    page = queries.case_page(found, current_user, now(), history_limit=None if show_all else queries.TIMELINE_CAP)
    forms = {name: url_for(endpoint, case_id=found.id) for name, endpoint in FORM_ENDPOINTS
             if name in page.forms and endpoint in current_app.view_functions}
    refusal = pop_refusal(found.id)
    refused_items: dict[str, list[str]] = {}
    if refusal:
        refusal["blockers"] = [Blocker(code, reason) for code, reason in refusal["blockers"]]
        for b in refusal["blockers"]:
            if b.code:
                refused_items.setdefault(b.code, []).append(b.reason)
    as_of = request.args.get("as_of", "").strip()
    here = url_for("pages.case", case_id=found.id, as_of=as_of or None)
    return render_template(
        "case.html", p=page, c=found, forms=forms, refusal=refusal, refused_items=refused_items, here=here,
        as_of=as_of, show_all=show_all, blockers_shown=BLOCKERS_SHOWN,
        # the date input's minimum: a revision deadline is checked against the real today, not ?as_of
        today=local_date(action_now(), found.campaign.timezone),
        revision_due=assessment_forms.default_revision_due(found, action_now()),  # as the appraisal form offers
        transition_labels=_strings(TRANSITION_LABELS), action_labels=_strings(ACTION_LABELS),
        field_labels=_strings(FIELD_LABELS), stage_titles={s.value: t for s, t in STAGE_TITLES_VI.items()},
        # a published case, or next year's case holding items carried forward, links its remediation plan
        has_remediation_plan=remediation.plan_of(found) is not None)


@bp.app_context_processor
def _labels():
    """``action_label(code)``: an audit action's name in the reader's language, for every page (the code
    itself when it has none)."""
    return {"action_label": lambda code: str(ACTION_LABELS.get(code, code))}


def _strings(labels: dict) -> dict[str, str]:
    """Lazy labels translated once per page (not once per timeline row)."""
    return {key: str(label) for key, label in labels.items()}


@bp.app_template_filter("change_value")
def change_value(value) -> str:
    """A value of a score change in the timeline: – for none, yes/no for flags, points for numbers.
    A filter, not a macro: it runs twice per score change on the page."""
    if value is None:
        return "–"
    if value is True or value is False:
        return _("yes") if value else _("no")
    if isinstance(value, Number):
        return points(value)
    return str(value)


@bp.app_template_filter("file_size")
def file_size(n: int) -> str:
    """A file's size for people: 889 B, 2,0 KB, 1,5 MB (decimal comma)."""
    if n < 1024:
        return f"{n} B"
    value, unit = (n / 1024, "KB") if n < 1024 * 1024 else (n / (1024 * 1024), "MB")
    return f"{value:.1f} {unit}".replace(".", ",")
