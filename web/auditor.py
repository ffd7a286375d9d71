"""The auditor's pages: history search, the integrity check, a case as of a date, exports.

Read-only for everyone who may open them (auditor, admin, secretariat head): the one POST runs the
integrity check, whose result goes on the record as an ``audit.verified`` event; nothing here changes
a case. Filters are parsed here and applied in SQL by ``workflow.history``; exports stream.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator
from itertools import islice
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from states import Role
from workflow import audit_anchor, audit_export, history
from workflow.clock import LOCAL_TZ, utcnow
from workflow.errors import InvalidInput
from workflow.txn import commit

from .common import action_now, case_or_404, roles_required
from .council import transition_title
from .i18n import stage_title

bp = Blueprint("auditor", __name__, url_prefix="/audit")

READERS = (Role.auditor, Role.admin, Role.secretariat_head)
EXPORT_BATCH = 500
EXPORT_TYPES = {"csv": ("text/csv; charset=utf-8", "csv"), "json": ("application/x-ndjson; charset=utf-8", "jsonl")}


def after_minute(moment: dt.datetime) -> str:
    """The local minute (YYYY-MM-DDTHH:MM) by which an event at ``moment`` had happened: for as-of links."""
    local = moment.astimezone(LOCAL_TZ)
    rounded = local.replace(second=0, microsecond=0)
    if rounded != local:
        rounded += dt.timedelta(minutes=1)
    return rounded.strftime("%Y-%m-%dT%H:%M")


@bp.context_processor
def _helpers():
    return {"stage_title": stage_title, "after_minute": after_minute, "transition_title": transition_title}


def _parse_filter(args) -> tuple[history.HistoryFilter, dict[str, str]]:
    """The search form's filter, and a message per field that could not be read (nothing is dropped)."""
    errors: dict[str, str] = {}
    values: dict = {}
    key = args.get("campaign", "").strip()
    if key:
        campaign = history.campaign_by_key(key)
        if campaign is None:
            errors["campaign"] = _("No such campaign.")
        else:
            values["campaign_id"] = campaign.id
    case = args.get("case", "").strip()
    if case:
        if case.isdigit():
            values["case_id"] = int(case)
        else:
            errors["case"] = _("A case number is a whole number.")
    for name in ("commune", "actor", "action"):
        text = args.get(name, "").strip()
        if text:
            values[name] = text[:200]
    for name, field in (("from", "date_from"), ("to", "date_to")):
        text = args.get(name, "").strip()
        if text:
            try:
                values[field] = history.parse_day(text)
            except ValueError:
                errors[name] = _("Write the date as dd/mm/yyyy.")
    if values.get("date_from") and values.get("date_to") and values["date_from"] > values["date_to"]:
        errors["to"] = _("The end date is before the start date.")
    return history.HistoryFilter(**values), errors


@bp.route("")
@roles_required(*READERS)
def search():
    """History search: filters, 50 events a page in seq order, with the total and the chain fields."""
    f, errors = _parse_filter(request.args)
    page = request.args.get("page", "1")
    result = None
    if not errors:
        result = history.search(f, int(page) if page.isdigit() else 1)
    query = {k: v for k, v in request.args.items() if k != "page" and v.strip()}
    return render_template("auditor/search.html", result=result, errors=errors, args=request.args,
                           query=query, campaigns=history.campaigns(), actions=history.actions()), 400 if errors else 200


def _batches(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _stream(f: history.HistoryFilter, fmt: str) -> Iterator[str]:
    """The export, written batch by batch through audit_export.write_export (the CSV header once)."""
    header = ""
    if fmt == "csv":
        out = io.StringIO()
        audit_export.write_export([], "csv", out)
        header = out.getvalue()
        yield "\ufeff" + header  # the BOM lets spreadsheets read the Vietnamese text as UTF-8
    for chunk in _batches(history.export_rows(f), EXPORT_BATCH):
        out = io.StringIO()
        audit_export.write_export(chunk, fmt, out)
        yield out.getvalue()[len(header):]


@bp.route("/export.<fmt>")
@roles_required(*READERS)
def export(fmt: str):
    """The filtered search as CSV (formula-safe) or JSON lines, every chain field, streamed."""
    if fmt not in EXPORT_TYPES:
        abort(404)
    f, errors = _parse_filter(request.args)
    if errors:
        abort(400)
    mimetype, extension = EXPORT_TYPES[fmt]
    stamp = utcnow().astimezone(LOCAL_TZ).strftime("%Y%m%d-%H%M")
    response = Response(stream_with_context(_stream(f, fmt)), content_type=mimetype)  # one charset
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{extension}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/integrity")
@roles_required(*READERS)
def integrity():
    """The last recorded integrity check, and the button to run one now (with anchors held, if any)."""
    return render_template("auditor/integrity.html", check=history.last_integrity_check(), anchors_text="",
                           error=None)


@bp.route("/integrity", methods=["POST"])
@roles_required(*READERS)
def run_integrity():
    """Verify the whole chain now, and the anchors pasted from the daily e-mails against it; the result is
    itself recorded (audit.verified) and then shown. Unreadable anchors: the page again, nothing recorded."""
    text = request.form.get("anchors", "")
    try:
        anchors = audit_anchor.parse_lines(text)
    except InvalidInput as exc:
        return render_template("auditor/integrity.html", check=history.last_integrity_check(), anchors_text=text,
                               error=exc.message), 400
    history.check_integrity(current_user, now=action_now(), anchors=anchors)
    commit()
    return redirect(url_for("auditor.integrity"), code=303)


@bp.route("/cases/<int:case_id>")
@roles_required(*READERS)
def case_as_of(case_id: int):
    """The case as its audit log says it stood at ``?at=`` (a local date, or date and time), beside now."""
    case = case_or_404(case_id)
    zone = ZoneInfo(case.campaign.timezone or "Asia/Ho_Chi_Minh")
    raw = request.args.get("at", "").strip()
    error = None
    with_time = True
    if raw:
        try:
            moment, with_time = history.parse_moment(raw, zone)
        except ValueError:
            error = _("Write the moment as dd/mm/yyyy or yyyy-mm-dd, optionally with a time HH:MM.")
            moment = utcnow()
    else:
        moment = utcnow()
    view = history.case_as_of(case, moment)
    local = moment.astimezone(zone)
    return render_template("auditor/case_as_of.html", v=view, raw=raw, error=error, zone=zone.key,
                           local=local if with_time else local.replace(second=0, microsecond=0),
                           end_of_day=not with_time, today=dt.datetime.now(zone).date()), 400 if error else 200
