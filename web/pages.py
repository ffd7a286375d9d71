"""The home redirect (each role to its own start page), the scoped case list and the case page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from states import Role
from workflow import queries

from .common import now

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
    for endpoint, roles in HOMES:
        if current_user.roles & roles and endpoint in current_app.view_functions:
            return redirect(url_for(endpoint))
    return redirect(url_for("pages.index"))


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


@bp.route("/cases/<int:case_id>")
@login_required
def case(case_id: int):
    found = queries.visible_case(current_user, case_id)
    if found is None:
        # the same answer for "missing" and "not yours": a case's existence is not disclosed
        abort(404)
    return render_template("case.html", d=queries.case_detail(found, now()))
