"""The secretariat's case board: stage columns, filters, the sortable table view and its CSV/Excel export."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from states import Stage
from workflow import access
from workflow import board as cases_board

from .common import now, roles_required
from .i18n import stage_title

bp = Blueprint("board", __name__, url_prefix="/board")

readers_only = roles_required(*access.CAMPAIGN_WIDE_READERS)

# the query-string arguments a board link carries along
KEPT_ARGS = ("campaign", "stage", "overdue", "q", "as_of", "sort", "dir", "due_from", "due_to", "no_deadline", "past_stage",
             "before_stage")


def _args(**changes) -> dict:
    """The current board arguments with ``changes`` applied; empty values dropped."""
    args = {k: request.args.get(k, "") for k in KEPT_ARGS}
    args.update({k: ("" if v is None else str(v)) for k, v in changes.items()})
    return {k: v for k, v in args.items() if v}


def link(endpoint: str, **changes) -> str:
    """A URL to ``endpoint`` that keeps the filters (campaign, stage, overdue, search, as_of, sort)."""
    return url_for(endpoint, **_args(**changes))


STATUSES = (cases_board.ON_TRACK, cases_board.DUE_SOON, cases_board.OVERDUE, cases_board.NO_DEADLINE)


def status_title(status: str) -> str:
    return {
        cases_board.ON_TRACK: _("on track"),
        cases_board.DUE_SOON: _("due soon"),
        cases_board.OVERDUE: _("overdue"),
        cases_board.NO_DEADLINE: _("no deadline"),
    }[status]


def _context(*, with_list: bool = True):
    """(campaigns, campaign, filter) from the request: the campaign by key or the newest one."""
    campaigns, campaign = cases_board.pick_campaign(current_user, request.args.get("campaign"),
                                                    with_list=with_list)
    flt = cases_board.BoardFilter.parse(request.args, cases_board.today_for(campaign, now())) if campaign \
        else None
    return campaigns, campaign, flt


def _labels() -> dict[str, str]:
    """The card texts, translated once per page (a column of cards repeats them)."""
    return {
        "due": _("Due"), "revision": _("revision"), "due_today": _("due today"), "no_deadline": _("no deadline"),
        "late": _("%(n)s working days late"), "left": _("%(n)s working days left"),
        "blockers": _("%(n)s blocking items"), "blockers_title": _("What stops the case from moving on"),
        "more": _("More"),
    }


def _href_maker(endpoint: str, **values):
    """A fast URL builder for one endpoint whose only varying part is an integer (built once per page)."""
    marker = 987654321
    prefix, _sep, suffix = url_for(endpoint, **values, case_id=marker).partition(str(marker))
    return lambda case_id: f"{prefix}{case_id}{suffix}"


def _render(template: str, **values):
    as_of = request.args.get("as_of", "")

    def more_href(stage: str, offset: int) -> str:
        return link("board.column", stage=stage, offset=offset)

    return render_template(template, link=link, args=_args(), stage_title=stage_title,
                           status_title=status_title, stages=[s.value for s in Stage], as_of=as_of,
                           t=_labels(), case_href=_href_maker("pages.case", as_of=as_of or None),
                           more_href=more_href, **values)


@bp.route("")
@readers_only
def board():
    campaigns, campaign, flt = _context()
    built = cases_board.build_board(campaign, flt) if campaign else None
    return _render("board/board.html", campaigns=campaigns, campaign=campaign, flt=flt, board=built)


@bp.route("/column/<stage>")
@readers_only
def column(stage: str):
    """More cards of one column: only the cards for htmx, a whole page without JavaScript."""
    if stage not in Stage.__members__:
        abort(404)
    campaigns, campaign, flt = _context(with_list=False)
    offset = max(0, request.args.get("offset", 0, type=int) or 0)
    cards, next_offset = cases_board.column_page(campaign, flt, stage, offset=offset) if campaign else ([], None)
    fragment = request.headers.get("HX-Request") == "true"
    template = "board/_column_cards.html" if fragment else "board/column.html"
    response = Response(_render(template, campaigns=campaigns, campaign=campaign, flt=flt,
                                stage=stage, cards=cards, offset=offset, next_offset=next_offset,
                                fragment=fragment))
    response.headers["Vary"] = "HX-Request"
    return response


@bp.route("/table")
@readers_only
def table():
    campaigns, campaign, flt = _context()
    sort, descending = cases_board.parse_sort(request.args)
    page = request.args.get("page", 1, type=int) or 1
    result = cases_board.table_page(campaign, flt, sort=sort, descending=descending, page=page) \
        if campaign else None
    return _render("board/table.html", campaigns=campaigns, campaign=campaign, flt=flt, result=result,
                   sort=sort, descending=descending, sorts=cases_board.SORTS)


def _export_headers() -> list[str]:
    return [_("Code"), _("Commune"), _("Stage"), _("Due"), _("Working days left"), _("Status"),
            _("Blocking items")]


def _export(kind: str):
    campaigns, campaign, flt = _context()
    if campaign is None:
        abort(404)
    sort, descending = cases_board.parse_sort(request.args)
    cards = cases_board.table_rows(campaign, flt, sort=sort, descending=descending)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{campaign.key}-{flt.today.isoformat()}")
    # titles translated once for the whole file, not once per row
    stages = {s.value: stage_title(s.value) for s in Stage}
    statuses = {s: status_title(s) for s in STATUSES}
    if kind == "csv":
        body = cases_board.csv_bytes(cards, _export_headers(), stages.get, statuses.get)
        mimetype, name = "text/csv; charset=utf-8", f"{name}.csv"
    else:
        body = cases_board.xlsx_bytes(cards, _export_headers(), stages.get, statuses.get,
                                      sheet_title=_("Cases"))
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        name = f"{name}.xlsx"
    return Response(body, content_type=mimetype,  # as written: mimetype= would add a second charset
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/table.csv")
@readers_only
def export_csv():
    return _export("csv")


@bp.route("/table.xlsx")
@readers_only
def export_xlsx():
    return _export("xlsx")
