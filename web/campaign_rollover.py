"""Open next year's campaign from this year's: choose key, year and title; read (and edit) the proposed
plan; load it. The secretariat and administrators only (as ``flask campaign next``)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from models import Campaign, db
from workflow import access, txn
from workflow import campaign_rollover as rollover
from workflow.errors import InvalidInput, PlanInvalid
from workflow.schemas.common import parse_text

from .admin import DEFAULT_UPLOAD_MAX_BYTES, _problem_rows
from .common import action_now, roles_required
from .i18n import select_locale

bp = Blueprint("rollover", __name__, url_prefix="/campaigns")

secretariat_only = roles_required(*access.SECRETARIAT_WRITERS)


def _source(key: str) -> Campaign:
    found = db.session.scalar(db.select(Campaign).where(Campaign.key == key))
    if found is None:
        abort(404)
    return found


def _wanted(source: Campaign) -> dict:
    """The new key, year and title from the query string (or their suggestions)."""
    year_text = request.args.get("year", "").strip()
    year = int(year_text) if year_text.isdigit() else (year_text or source.year + 1)
    new_key = request.args.get("new_key")
    if new_key is None:
        new_key = source.key.replace(str(source.year), str(source.year + 1)) if str(source.year) in source.key \
            else f"{source.key}-{source.year + 1}"
    return {"new_key": new_key.strip(), "year": year,
            "title": request.args.get("title", "") if "title" in request.args
            else rollover.default_title(source, source.year + 1) or ""}


def plan_date(raw: str) -> str:
    """A plan date as the reader writes it: 2024-11-11 -> 11/11/2024, a month 2025-01 -> 01/2025."""
    parts = str(raw).split("-")
    return "/".join(reversed(parts)) if len(parts) in (2, 3) else str(raw)


def _render(source: Campaign, wanted: dict, *, proposal=None, text: str = "", errors=None, problems=None,
            status: int = 200):
    return render_template("dashboard/rollover.html", source=source, wanted=wanted, proposal=proposal,
                           text=text, errors=errors or {}, problems=problems, vi=select_locale() == "vi",
                           plan_date=plan_date), status


def _proposal(source: Campaign, wanted: dict):
    return rollover.propose(source, key=wanted["new_key"], year=wanted["year"], title=wanted["title"] or None)


@bp.route("/<key>/next", methods=["GET", "POST"])
@secretariat_only
def next_campaign(key: str):
    """GET: the form, or (with ``new_key`` and ``year``) the proposed plan; POST: load the (edited) plan."""
    source = _source(key)
    wanted = _wanted(source)
    if request.method == "GET":
        if "year" not in request.args:
            return _render(source, wanted)
        try:
            proposal = _proposal(source, wanted)
        except InvalidInput as exc:
            return _render(source, wanted, errors=exc.errors, status=422)
        return _render(source, wanted, proposal=proposal, text=proposal.to_yaml())

    text = request.form.get("plan", "")
    limit = current_app.config.get("ADMIN_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES)
    if len(text.encode("utf-8")) > limit:
        return _render(source, wanted, text="", problems=[("", _("The plan is larger than %(n)s KB.",
                                                                  n=limit // 1024))], status=422)
    try:
        data = parse_text(text, suffix=".yaml", what="plan file")
        with txn.guarded():
            result = rollover.open_next_campaign(source, data, actor=current_user, now=action_now())
        txn.commit()
    except PlanInvalid as exc:
        db.session.rollback()
        return _render(source, wanted, text=text, problems=_problem_rows(exc.problems), status=422)
    except InvalidInput as exc:
        db.session.rollback()
        return _render(source, wanted, text=text, problems=[(k, m) for k, ms in exc.errors.items() for m in ms]
                       or [("", exc.message)], status=422)
    if result.carried_forward is None:
        flash(_("Campaign %(key)s opened with %(n)s case(s).", key=result.campaign.key, n=result.cases), "success")
    else:
        flash(_("Campaign %(key)s opened with %(n)s case(s); %(items)s open remediation item(s) carried forward.",
                key=result.campaign.key, n=result.cases, items=result.carried_forward), "success")
    return redirect(url_for("dashboard.index", campaign=result.campaign.key), code=303)


@bp.route("/<key>/next/plan.yaml")
@secretariat_only
def next_plan_yaml(key: str):
    """The proposed plan as a file to download, edit and paste back (or load with the CLI)."""
    source = _source(key)
    wanted = _wanted(source)
    try:
        proposal = _proposal(source, wanted)
    except InvalidInput as exc:
        return _render(source, wanted, errors=exc.errors, status=422)
    name = f"plan-{proposal.key}.yaml"
    return Response(proposal.to_yaml(), mimetype="application/x-yaml; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
