"""Results pages: the published results of a campaign (every signed-in user), its exports, the unpublished
results (secretariat, leader, auditor, admin, the campaign's council; a commune sees only its own), and
the campaign-level publication (secretariat or leader).

There is no anonymous page: the open-data CSV/JSON exports are what the authority posts on its portal.
"""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from states import Role
from workflow import publication, results, results_outputs
from workflow.errors import WorkflowError
from workflow.txn import commit

from . import results_charts
from .board import stage_title
from .common import action_now, roles_required
from .i18n import points
from .messages import translate

bp = Blueprint("results", __name__, url_prefix="/results")

EVERYONE = tuple(Role)
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def labels() -> dict[str, str]:
    """The outputs' labels in the reader's language (Vietnamese by default)."""
    return {
        "title": _("Administrative Reform Index results"), "rank": _("Rank"), "commune_code": _("Code"),
        "commune": _("Commune"), "total": _("Total points"), "max": _("Maximum"), "percentage": _("Index") + " (%)",
        "band": _("Band"), "survey": _("Survey points"), "previous_rank": _("Rank last year"),
        "rank_change": _("Places gained"), "previous_percentage": _("Index last year") + " (%)",
        "version": _("Version"), "published_at": _("published on"), "sha256": _("SHA-256"),
        "totals_sheet": _("Totals and ranks"), "scores_sheet": _("Scores per sub-criterion"),
        "code": _("Code"), "criterion": _("Sub-criterion"), "max_points": _("Maximum points"),
        "not_applicable": _("not applicable"), "ranking": _("Ranking"), "areas": _("Points by area"),
        "difference": _("Changes from the previous version"), "no_changes": _("No result changed."),
        "page": _("Page"), "authority": _("Evaluating authority"), "predecessors": _("Merged from"),
    }


FIELD_TITLES = {"total": _l("Total points"), "max": _l("Maximum"), "percentage": _l("Index"),
                "rank": _l("Rank"), "band": _l("Band")}


@bp.context_processor
def _helpers():
    def show(value):
        if isinstance(value, str) and value.replace(".", "", 1).isdigit():
            return points(value)
        return "—" if value is None else value

    def signed(value):
        text = points(value)
        return text if text.startswith("-") or not value or not Decimal(value) else "+" + text

    return {"stage_title": stage_title, "show": show, "signed": signed,
            "field_title": lambda name: str(FIELD_TITLES.get(name, name))}


def _campaign_or_404(key: str):
    campaign = results.campaign_by_key(key)
    if campaign is None:
        abort(404)
    return campaign


def _version_arg() -> int | None:
    raw = request.args.get("version", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        abort(404)
    return int(raw)


def _snapshot_or_404(campaign):
    snapshot = results.snapshot_version(campaign, _version_arg())
    if snapshot is None:
        abort(404)
    return snapshot


@bp.route("")
@roles_required(*EVERYONE)
def index():
    """Campaigns with published results, and those whose unpublished results this user may see."""
    return render_template("results/index.html", rows=results.campaigns_with_results(current_user))


@bp.route("/<key>")
@roles_required(*EVERYONE)
def published(key: str):
    """The published results: ranking, bands, areas, charts, version and hash, and what changed."""
    campaign = _campaign_or_404(key)
    snapshot = results.snapshot_version(campaign, _version_arg())
    if snapshot is None:
        if request.args.get("version") is None and results.may_see_live(current_user, campaign):
            return redirect(url_for("results.live", key=key))
        abort(404)
    data = publication.payload_of(snapshot)
    entries = data["communes"]
    charts = {
        "ranking": results_charts.ranking_bars(entries, _("Index by commune")),
        "bands": results_charts.band_distribution(entries, data["classification"], _("Communes per band")),
        "change": results_charts.rank_change_bars(entries, _("Places gained since last year"),
                                                  _("no comparison")),
    }
    return render_template("results/published.html", campaign=campaign, snapshot=snapshot, data=data,
                           areas=[c for c in data["criteria"] if c["depth"] == 1], charts=charts,
                           versions=results.snapshots_of(campaign),
                           may_see_live=results.may_see_live(current_user, campaign))


@bp.route("/<key>/export.<fmt>")
@roles_required(*EVERYONE)
def export(key: str, fmt: str):
    """A published version as open data (CSV, JSON), the office workbook (XLSX) or the report (PDF)."""
    if fmt not in MEDIA:
        abort(404)
    campaign = _campaign_or_404(key)
    snapshot = _snapshot_or_404(campaign)
    if fmt == "csv":
        body = results_outputs.open_data_csv(snapshot).encode("utf-8")
    elif fmt == "json":
        body = results_outputs.open_data_json(snapshot).encode("utf-8")
    elif fmt == "xlsx":
        body = results_outputs.workbook(snapshot, labels())
    else:
        body = results_outputs.pdf_report(snapshot, labels())
    name = f"ket-qua-{campaign.key}-v{snapshot.version}.{fmt}"
    return Response(body, content_type=MEDIA[fmt], headers={  # content_type: as written, one charset
        "Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff",
        "X-Result-SHA256": snapshot.sha256})


@bp.route("/<key>/live")
@roles_required(*EVERYONE)
def live(key: str):
    """Results as they stand now, before (or between) publications."""
    campaign = _campaign_or_404(key)
    rows = results.live_results_for(current_user, campaign)
    if rows is None:
        abort(404)
    full = results.sees_all_live(current_user, campaign)
    pending = [r for r in rows if r.stage != "publication"]
    return render_template("results/live.html", campaign=campaign, rows=rows, full=full, pending=pending,
                           areas=rows[0].areas if rows else [], latest=results.latest_snapshot(campaign),
                           may_publish=bool(current_user.roles & publication.PUBLISHERS) and full)


@bp.route("/<key>/publish", methods=["POST"])
@roles_required(*publication.PUBLISHERS)
def publish(key: str):
    """Publish the campaign's results (the next snapshot version)."""
    campaign = _campaign_or_404(key)
    if not results.sees_all_live(current_user, campaign):
        abort(404)
    try:
        snapshot = publication.publish_campaign(campaign, current_user, now=action_now())
        commit()
    except WorkflowError as exc:
        flash(translate(exc.message), "error")
        return redirect(url_for("results.live", key=key))
    flash(_("Published as version %(version)s.", version=snapshot.version), "success")
    return redirect(url_for("results.published", key=key))
