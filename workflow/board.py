"""The case board: one campaign's cases by stage with their binding deadline and blocker count.

Built for 10,000 cases in a campaign: counts come from GROUP BY queries, each stage column reads
only the page of cards it shows (in the order of an index of open deadlines), and days left and
blocker counts are computed for the cards shown only, set-based (one query for their deadlines,
one aggregate for their blockers). The overdue filter and the sort by due date run in SQL on the
binding deadline; the working-day calendar is built once per request.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO

from sqlalchemy import Date, String, and_, bindparam, case, exists, func, null, or_, select
from sqlalchemy.orm import joinedload

from models import Campaign, Case, Commune, CriteriaItem, Deadline, Evidence, Score, User, db
from states import CHART, STAGE_ORDER, STAGE_TITLES_VI, Stage

from . import access, deadlines, queries
from .audit_export import csv_safe
from .calendar import WorkingCalendar
from .clock import local_date
from .errors import NotFound, NotPermitted

DUE_SOON_WORKING_DAYS = 2  # a card turns "due soon" when this many working days or fewer are left
COLUMN_FIRST = 20  # cards a column shows on the board
COLUMN_MORE = 50  # cards each "more" adds
TABLE_PAGE = 50  # rows per page of the table view
EXPORT_BATCH = 1000  # rows enriched (days left, blockers) per round trip while exporting

ON_TRACK, DUE_SOON, OVERDUE, NO_DEADLINE = "on-track", "due-soon", "overdue", "no-deadline"

SORTS = ("commune", "code", "stage", "due", "days_left", "blockers")


# --- who may read the board ------------------------------------------------------------------------

def require_reader(user: User | None) -> None:
    """The board is for campaign-wide readers (secretariat, head, admin, authority leader, auditor)."""
    if user is None or not user.is_active or not user.roles & access.CAMPAIGN_WIDE_READERS:
        raise NotPermitted("Only the secretariat, the authority and auditors may see the case board.")


def campaigns_for(user: User) -> list[Campaign]:
    """The campaigns ``user`` may put on the board, newest first."""
    require_reader(user)
    return queries.campaigns_visible_to(user)


def pick_campaign(user: User, key: str | None, *, with_list: bool = True) -> tuple[list[Campaign], Campaign | None]:
    """(selectable campaigns, the one asked for by ``key`` or else the newest); NotFound for a bad key.

    ``with_list=False`` skips the list (a column page needs only the campaign)."""
    if key and not with_list:
        require_reader(user)
        chosen = db.session.scalar(select(Campaign).where(Campaign.key == key))
        if chosen is None:
            raise NotFound(f"No campaign {key}.")
        return [], chosen
    campaigns = campaigns_for(user)
    if key:
        chosen = next((c for c in campaigns if c.key == key), None)
        if chosen is None:
            raise NotFound(f"No campaign {key}.")
        return campaigns, chosen
    return campaigns, campaigns[0] if campaigns else None


# --- filters ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoardFilter:
    """What the user narrowed the board to; ``today`` is the campaign's local date (``?as_of=`` aware)."""

    today: dt.date
    stage: str | None = None
    overdue: bool = False
    q: str = ""
    # the table's (and the API's) narrower filters; the board's columns ignore them
    on_time: bool = False  # only cases not past their binding deadline
    due_from: dt.date | None = None  # only cases whose binding deadline falls in [due_from, due_to]
    due_to: dt.date | None = None  # (the dashboard's "due soon" and "on track" counts, as a list)
    no_deadline: bool = False  # only cases with no deadline of their stage at all (open or completed)
    # relative to a stage, as the dashboard counts a stage's "done" and "not reached"
    past_stage: str | None = None  # cases past it in the stage order, or in it with its deadline completed
    before_stage: str | None = None  # cases in an earlier stage
    commune: str | None = None  # one commune, by code
    scope_commune_id: int | None = None  # the reader's scope (access.commune_scope), applied in SQL

    @classmethod
    def parse(cls, args, today: dt.date) -> BoardFilter:
        """From request arguments; an unknown stage is ignored rather than refused."""
        return cls(today=today, stage=_stage_or_none(args.get("stage")), overdue=_flag(args.get("overdue")),
                   q=" ".join((args.get("q") or "").split())[:100],
                   due_from=_iso_date(args.get("due_from")), due_to=_iso_date(args.get("due_to")),
                   no_deadline=_flag(args.get("no_deadline")),
                   past_stage=_stage_or_none(args.get("past_stage")),
                   before_stage=_stage_or_none(args.get("before_stage")))

    @property
    def due_window(self) -> bool:
        return self.due_from is not None or self.due_to is not None


def _flag(text: str | None) -> bool:
    return (text or "") in ("1", "on", "true", "yes")


def _stage_or_none(text: str | None) -> str | None:
    text = (text or "").strip()
    return text if text in Stage.__members__ else None


def _stages_around(stage: str) -> tuple[list[str], list[str]]:
    """(the stages before ``stage``, the stages after it) in the stage order."""
    order = [s.value for s in STAGE_ORDER]
    i = order.index(stage)
    return order[:i], order[i + 1:]


def _iso_date(text: str | None) -> dt.date | None:
    """YYYY-MM-DD, or None (an unreadable date is ignored, as an unknown stage is)."""
    try:
        return dt.date.fromisoformat((text or "").strip()) if text else None
    except ValueError:
        return None


def today_for(campaign: Campaign, now: dt.datetime) -> dt.date:
    return local_date(now, campaign.timezone or "Asia/Ho_Chi_Minh")


@lru_cache(maxsize=65536)
def fold(text: str | None) -> str:
    """Lower case without Vietnamese accents ("Xã Tam Đàn" -> "xa tam dan"), for search."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _vietnamese_variants() -> dict[str, str]:
    """Each bare letter and every Vietnamese letter that folds to it, both cases: d -> "dDĐđ"."""
    variants = {"d": "dDĐđ"}
    for vowel in "aăâeêioôơuưy":
        for tone in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"):  # huyền sắc ngã hỏi nặng
            for ch in (vowel, vowel.upper()):
                letter = unicodedata.normalize("NFC", ch + tone)
                bare = fold(letter)
                variants.setdefault(bare, bare + bare.upper())
                if letter not in variants[bare]:
                    variants[bare] += letter
    return variants


_VARIANTS = _vietnamese_variants()


def _accent_regex(folded: str) -> str:
    """A case-insensitive regular expression matching ``folded`` text with any Vietnamese accents
    (PostgreSQL's ``~*``: about 20 times faster than translate() over every name)."""
    return "".join(f"[{_VARIANTS[ch]}]" if ch in _VARIANTS else re.escape(ch) for ch in folded)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- tables and statements --------------------------------------------------------------------------
# Core tables (lighter than ORM entities for read-only rows) and statements built once per shape: a
# request only binds values (campaign, stage, today, search pattern, offset, limit, case ids).

CASES, COMMUNES, DEADLINES = Case.__table__, Commune.__table__, Deadline.__table__
ITEMS, SCORES, EVIDENCE = CriteriaItem.__table__, Score.__table__, Evidence.__table__

_STATEMENTS: dict[tuple, object] = {}


def _statement(key: tuple, build):
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = build()
    return found


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _register_fold() -> None:
    """SQLite's ``cchc_fold(text)`` (``fold``), on the session's connection: SQLite has no accent folding.
    Registered per connection, on demand: the engine set-up is not this module's to change."""
    db.session.connection().connection.driver_connection.create_function("cchc_fold", 1, fold, deterministic=True)


def _run(stmt, params: dict):
    if params.get("pattern") is not None and _dialect() == "sqlite":
        _register_fold()
    return db.session.execute(stmt, params)


def name_contains(column, text: str):
    """WHERE: ``column`` (a commune's name) contains ``text`` ignoring case and Vietnamese accents, as the
    board's search does ("tam hai" finds "Xã Tam Hải"): for the other pages that search commune names."""
    folded = fold(" ".join(text.split()))
    if _dialect() == "sqlite":
        _register_fold()
        return func.cchc_fold(column).like(_like_pattern(folded), escape="\\")
    return column.op("~*")(_accent_regex(folded))


def _params(campaign: Campaign, flt: BoardFilter, **more) -> dict:
    params = {"cid": campaign.id, "today": flt.today, **more}
    if flt.q:
        params["pattern"] = _like_pattern(fold(flt.q))
        params["regex"] = _accent_regex(fold(flt.q))
    return params


def _search_clause(dialect: str):
    """Commune name (accent- and case-insensitive) or code contains the search text."""
    pattern = bindparam("pattern", type_=String)
    code = func.lower(COMMUNES.c.code).like(pattern, escape="\\")
    if dialect == "sqlite":
        return or_(func.cchc_fold(COMMUNES.c.name).like(pattern, escape="\\"), code)
    return or_(COMMUNES.c.name.op("~*")(bindparam("regex", type_=String)), code)


# --- the binding deadline, in SQL -------------------------------------------------------------------
# The open deadline of the case's current stage binds it; should two be open, a revision deadline wins
# over the stage's and a later round over an earlier one (as ``deadlines.current_deadline``).

def _outranked(d):
    """An open deadline of the same case and stage that binds before ``d``."""
    better = DEADLINES.alias("better")
    return exists().where(better.c.case_id == d.c.case_id, better.c.stage == d.c.stage,
                          better.c.completed_at.is_(None),
                          or_(and_(better.c.kind == "revision", d.c.kind != "revision"),
                              and_(better.c.kind == d.c.kind, better.c.round > d.c.round)))


def _binding_due_where(*on_due):
    """EXISTS: the case's binding deadline (open, of its stage, not outranked) with a due meeting ``on_due``."""
    d = DEADLINES.alias("d")
    return exists().where(d.c.case_id == CASES.c.id, d.c.stage == CASES.c.stage, d.c.completed_at.is_(None),
                          *(condition(d.c.due) for condition in on_due), ~_outranked(d))


def _binding_overdue():
    """EXISTS: the case's binding deadline was due before ``today``."""
    return _binding_due_where(lambda due: due < bindparam("today", type_=Date))


def _binding_due_within(with_from: bool, with_to: bool):
    """EXISTS: the case's binding deadline falls on or after ``:due_from`` and on or before ``:due_to``."""
    on_due = []
    if with_from:
        on_due.append(lambda due: due >= bindparam("due_from", type_=Date))
    if with_to:
        on_due.append(lambda due: due <= bindparam("due_to", type_=Date))
    return _binding_due_where(*on_due)


def _stage_has_deadline():
    """EXISTS: a deadline of the case's current stage, open or completed (the dashboard's "no deadline"
    bucket is the cases without one)."""
    d = DEADLINES.alias("d")
    return exists().where(d.c.case_id == CASES.c.id, d.c.stage == CASES.c.stage)


def _past_stage():
    """The case is past ``:past_stage`` (in a later stage), or still in it with no open deadline of it and a
    completed one (the dashboard's "done")."""
    d = DEADLINES.alias("d")
    of_it = and_(d.c.case_id == CASES.c.id, d.c.stage == CASES.c.stage)
    return or_(CASES.c.stage.in_(bindparam("later_stages", expanding=True)),
               and_(CASES.c.stage == bindparam("past_stage"), ~exists().where(of_it, d.c.completed_at.is_(None)),
                    exists().where(of_it, d.c.completed_at.is_not(None))))


def _binding_due():
    """The case's binding due date as a correlated scalar subquery (for sorting the table by it)."""
    d = DEADLINES.alias("d")
    return (select(d.c.due).where(d.c.case_id == CASES.c.id, d.c.stage == CASES.c.stage,
                                  d.c.completed_at.is_(None))
            .order_by((d.c.kind == "revision").desc(), d.c.round.desc()).limit(1).scalar_subquery())


def binding_deadlines(case_ids: Sequence[int]) -> dict[int, tuple[dt.date, str]]:
    """(due, kind) of the binding deadline of each case in ``case_ids`` that has one: one query."""
    return {case_id: (due, kind) for case_id, (due, kind, _plan_due) in binding_deadline_rows(case_ids).items()}


def binding_deadline_rows(case_ids: Sequence[int]) -> dict[int, tuple[dt.date, str, dt.date]]:
    """(due, kind, plan_due) of the binding deadline of each case in ``case_ids`` that has one: one query."""
    if not case_ids:
        return {}

    def build():
        d = DEADLINES
        return (select(d.c.case_id, d.c.due, d.c.kind, d.c.round, d.c.plan_due)
                .join(CASES, and_(CASES.c.id == d.c.case_id, CASES.c.stage == d.c.stage))
                .where(d.c.case_id.in_(bindparam("ids", expanding=True)), d.c.completed_at.is_(None)))

    best: dict[int, tuple] = {}
    for case_id, due, kind, rnd, plan_due in db.session.execute(_statement(("deadlines",), build),
                                                                {"ids": list(case_ids)}):
        rank = (kind == "revision", rnd)
        if case_id not in best or rank > best[case_id][0]:
            best[case_id] = (rank, due, kind, plan_due)
    return {case_id: (due, kind, plan_due) for case_id, (_, due, kind, plan_due) in best.items()}


# --- blockers, in SQL -------------------------------------------------------------------------------
# What stops a case's forward transition, counted like the Python guards (workflow.guards) but for many
# cases in one aggregate over their score rows: for a guard on sub-criteria of method m,
#   blockers = (sub-criteria of method m) - (score rows that settle one) + (extra reasons on scored rows).

def _forward_guards() -> dict[str, tuple[str, ...]]:
    """Per stage, the guards of its forward transition (what stops the case moving on)."""
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    result: dict[str, tuple[str, ...]] = {s.value: () for s in STAGE_ORDER}
    for spec in CHART:
        if order[spec.dest] > order[spec.source]:
            result[spec.source.value] += spec.guards
    return result


FORWARD_GUARDS = _forward_guards()
GUARDED_STAGES = tuple(s for s, guards in FORWARD_GUARDS.items() if guards)


def _guard_terms(name: str, item, score, has_evidence):
    """(method, "this score row settles the sub-criterion", extra blockers of a settled row or None) of
    guard ``name``. Mirrors workflow.guards; tests/web/test_board.py checks that the two agree."""
    na = score.c.not_applicable.is_(True)
    if name == "self_assessment_complete":
        scored = and_(~na, score.c.self_score.is_not(None))
        no_explanation = func.coalesce(func.trim(score.c.explanation), "") == ""
        extra = case((scored, case((or_(score.c.self_score < 0, score.c.self_score > item.c.max_points), 1), else_=0)
                      + case((and_(item.c.evidence_required.is_(True), no_explanation, ~has_evidence), 1),
                             else_=0)), else_=0)
        return "self", or_(na, score.c.self_score.is_not(None)), extra
    if name == "appraisal_complete":
        return "self", or_(na, score.c.appraised_score.is_not(None)), None
    if name == "survey_points_recorded":
        return "survey", or_(na, score.c.survey_score.is_not(None)), None
    raise KeyError(f"no SQL for guard {name!r}")


def _leaf_count(method: str):
    return (select(func.count()).select_from(ITEMS)
            .where(ITEMS.c.criteria_set_id == bindparam("cs"), ITEMS.c.method == method).scalar_subquery())


def _blockers_select(has_evidence_of, stages: Sequence[str] = GUARDED_STAGES):
    """SELECT case id, blocker count FROM cases LEFT JOIN their scores, grouped by case (narrowed by the
    caller to cases in ``stages``: every row pays for the sums of every stage asked for).
    ``has_evidence_of(item, score)`` says whether a score row's sub-criterion has a live file."""
    item, score = ITEMS.alias("item"), SCORES.alias("score")
    has_evidence = has_evidence_of(item, score)
    whens = []
    for stage in stages:
        total = None
        for name in FORWARD_GUARDS[stage]:
            method, settled, extra = _guard_terms(name, item, score, has_evidence)
            part = _leaf_count(method) - func.sum(case((and_(item.c.method == method, settled), 1), else_=0))
            if extra is not None:
                part = part + func.sum(case((item.c.method == method, extra), else_=0))
            total = part if total is None else total + part
        whens.append((CASES.c.stage == stage, total))
    blockers = func.coalesce(case(*whens, else_=0), 0).label("blockers")
    stmt = (select(CASES.c.id.label("case_id"), blockers).select_from(CASES)
            .outerjoin(score, score.c.case_id == CASES.c.id)
            .outerjoin(item, and_(item.c.id == score.c.item_id, item.c.criteria_set_id == bindparam("cs"))))
    return stmt, item, score


def blocker_counts(campaign: Campaign, case_ids: Sequence[int], stages: Sequence[str] | None = None
                   ) -> dict[int, int]:
    """Blockers of the forward transition for each case in ``case_ids``: one aggregate query.

    ``stages``, when the caller knows them (the cards' rows carry their stage), are the stages of those
    cases: the aggregate then sums only their guards (a column of the board is one stage)."""
    guarded = tuple(s for s in GUARDED_STAGES if stages is None or s in stages)
    if not case_ids or not guarded:
        return dict.fromkeys(case_ids, 0)

    dialect = _dialect()

    def build():
        ids = bindparam("ids", expanding=True)
        if dialect == "sqlite":
            # SQLite looks a file up in ix_evidence_case_item where a row needs it (a blank explanation on
            # an item requiring evidence): cheaper than reading and indexing every file of the cases
            stmt, _item, _score = _blockers_select(_live_file_exists, guarded)
        else:
            # PostgreSQL would run a correlated look-up as a subplan per row: the shown cases' live files
            # are read at once and joined on (case, sub-criterion)
            files = (select(EVIDENCE.c.case_id, EVIDENCE.c.item_id).distinct()
                     .where(EVIDENCE.c.case_id.in_(ids), EVIDENCE.c.removed_at.is_(None)).subquery("files"))
            stmt, _item, score = _blockers_select(lambda item, score: files.c.item_id.is_not(None), guarded)
            stmt = stmt.outerjoin(files, and_(files.c.case_id == score.c.case_id,
                                              files.c.item_id == score.c.item_id))
        return stmt.where(CASES.c.id.in_(ids), CASES.c.stage.in_(guarded)).group_by(CASES.c.id, CASES.c.stage)

    counts = {case_id: 0 for case_id in case_ids}
    rows = db.session.execute(_statement(("blockers", dialect, guarded), build),
                              {"cs": campaign.criteria_set_id, "ids": list(case_ids)})
    counts.update({case_id: int(n or 0) for case_id, n in rows})
    return counts


def _live_file_exists(item, score):
    """EXISTS: the score row's sub-criterion has a live evidence file in the row's case."""
    return exists().where(EVIDENCE.c.case_id == score.c.case_id, EVIDENCE.c.item_id == score.c.item_id,
                          EVIDENCE.c.removed_at.is_(None))


def _campaign_blockers():
    """(case id, blockers) of every case of the campaign ``:cid``: a derived table to sort the table by."""
    stmt, _item, _score = _blockers_select(_live_file_exists)
    # cases in a stage without guards have none: their score rows are not read
    return (stmt.where(CASES.c.campaign_id == bindparam("cid"), CASES.c.stage.in_(GUARDED_STAGES))
            .group_by(CASES.c.id, CASES.c.stage).subquery("case_blockers"))


# --- cards ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Card:
    """One case as the board and the table show it."""

    case_id: int
    commune_code: str
    commune_name: str
    stage: str
    due: dt.date | None
    deadline_kind: str | None
    working_days_left: int | None  # 0 on the due day, negative once late; None without a deadline
    status: str  # on-track | due-soon | overdue | no-deadline
    blockers: int
    late: bool = False
    working_days_late: int = 0

    @property
    def stage_vi(self) -> str:
        return STAGE_TITLES_VI[Stage(self.stage)]


class DaysLeft:
    """Working days from ``today`` to each due date: the calendar built once, each date counted once."""

    def __init__(self, campaign: Campaign, today: dt.date):
        self.calendar: WorkingCalendar = deadlines.calendar_of(campaign)
        self.today = today
        self._memo: dict[dt.date, int] = {}

    def __call__(self, due: dt.date) -> int:
        if due not in self._memo:
            self._memo[due] = self.calendar.working_days_between(self.today, due)
        return self._memo[due]

    def status(self, due: dt.date | None, left: int | None) -> str:
        if due is None:
            return NO_DEADLINE
        if self.today > due:
            return OVERDUE
        return DUE_SOON if left is not None and left <= DUE_SOON_WORKING_DAYS else ON_TRACK


Row = tuple  # (case id, stage, commune code, commune name, due or None, deadline kind or None)


def _cards(campaign: Campaign, rows: Sequence[Row], days: DaysLeft, *, with_deadlines: bool = True) -> list[Card]:
    """Cards of ``rows``: blockers from one aggregate query; deadlines from one query unless the rows
    carry them already (``with_deadlines``)."""
    ids = [r[0] for r in rows]
    blockers = blocker_counts(campaign, ids, stages={r[1] for r in rows})
    bound = {} if with_deadlines else binding_deadlines(ids)
    cards = []
    for case_id, stage, code, name, *deadline in rows:
        due, kind = deadline if with_deadlines else bound.get(case_id, (None, None))
        left = days(due) if due is not None else None
        status = days.status(due, left)
        late = status == OVERDUE
        cards.append(Card(case_id=case_id, commune_code=code, commune_name=name, stage=stage, due=due,
                          deadline_kind=kind, working_days_left=left, status=status,
                          blockers=blockers.get(case_id, 0), late=late,
                          working_days_late=-left if late and left is not None else 0))
    return cards


# --- the board --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    stage: str
    count: int
    overdue: int
    cards: list[Card]
    next_offset: int | None  # where "more" continues; None when every card is shown

    @property
    def stage_vi(self) -> str:
        return STAGE_TITLES_VI[Stage(self.stage)]


@dataclass(frozen=True)
class Board:
    campaign: Campaign
    filter: BoardFilter
    columns: list[Column]
    counts: dict[str, int]  # cases per stage matching the search and overdue filters
    overdue_by_stage: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def overdue_total(self) -> int:
        return sum(self.overdue_by_stage.values())


def stage_counts(campaign: Campaign, flt: BoardFilter) -> tuple[dict[str, int], dict[str, int]]:
    """(cases per stage, overdue cases per stage) under the search and overdue filters: two GROUP BYs."""
    dialect = _dialect()

    def build_counts():
        stmt = select(CASES.c.stage, func.count()).select_from(CASES)
        if flt.q:
            stmt = stmt.join(COMMUNES, COMMUNES.c.id == CASES.c.commune_id).where(_search_clause(dialect))
        if flt.overdue:
            stmt = stmt.where(_binding_overdue())
        return stmt.where(CASES.c.campaign_id == bindparam("cid")).group_by(CASES.c.stage)

    def build_overdue():
        d = DEADLINES.alias("d")
        stmt = (select(d.c.stage, func.count()).select_from(d)
                .join(CASES, and_(CASES.c.id == d.c.case_id, CASES.c.stage == d.c.stage)))
        if flt.q:
            stmt = stmt.join(COMMUNES, COMMUNES.c.id == CASES.c.commune_id).where(_search_clause(dialect))
        # "stage IN (every stage)" lets the planner read the open-deadline index by stage, then due
        return (stmt.where(d.c.completed_at.is_(None), d.c.stage.in_([s.value for s in STAGE_ORDER]),
                           d.c.due < bindparam("today", type_=Date),
                           CASES.c.campaign_id == bindparam("cid"), ~_outranked(d))
                .group_by(d.c.stage))

    params = _params(campaign, flt)
    counts = {s.value: 0 for s in STAGE_ORDER}
    late = {s.value: 0 for s in STAGE_ORDER}
    for stage, n in _run(_statement(("counts", dialect, bool(flt.q), flt.overdue), build_counts), params):
        counts[stage] = n
    for stage, n in _run(_statement(("overdue", dialect, bool(flt.q)), build_overdue), params):
        late[stage] = n
    return counts, late


def _with_deadline_rows(dialect: str, flt: BoardFilter, *, count: bool = False):
    """A column's cases that have a binding deadline, earliest due first, read in the order of the index
    ix_deadlines_open_stage_due (stage, due, case_id) so a page stops after offset + limit rows."""
    d = DEADLINES.alias("d")
    columns = [func.count()] if count else [CASES.c.id, CASES.c.stage, COMMUNES.c.code, COMMUNES.c.name,
                                            d.c.due, d.c.kind]
    stmt = (select(*columns).select_from(d).join(CASES, CASES.c.id == d.c.case_id)
            .join(COMMUNES, COMMUNES.c.id == CASES.c.commune_id)
            .where(d.c.completed_at.is_(None), d.c.stage == bindparam("stage"), CASES.c.stage == bindparam("stage"),
                   CASES.c.campaign_id == bindparam("cid"), ~_outranked(d)))
    if flt.overdue:
        stmt = stmt.where(d.c.due < bindparam("today", type_=Date))
    if flt.q:
        stmt = stmt.where(_search_clause(dialect))
    if count:
        return stmt
    return stmt.order_by(d.c.due, d.c.case_id).limit(bindparam("limit")).offset(bindparam("offset"))


def _without_deadline_rows(dialect: str, flt: BoardFilter):
    """A column's cases with no open deadline (after those with one), by case id."""
    d = DEADLINES.alias("d")
    has_open = exists().where(d.c.case_id == CASES.c.id, d.c.stage == CASES.c.stage, d.c.completed_at.is_(None))
    stmt = (select(CASES.c.id, CASES.c.stage, COMMUNES.c.code, COMMUNES.c.name, null().label("due"), null().label("kind"))
            .select_from(CASES).join(COMMUNES, COMMUNES.c.id == CASES.c.commune_id)
            .where(CASES.c.campaign_id == bindparam("cid"), CASES.c.stage == bindparam("stage"), ~has_open))
    if flt.q:
        stmt = stmt.where(_search_clause(dialect))
    return stmt.order_by(CASES.c.id).limit(bindparam("limit")).offset(bindparam("offset"))


def column_rows(campaign: Campaign, flt: BoardFilter, stage: str, *, offset: int, limit: int) -> list[Row]:
    """Rows of one stage column from ``offset``: the earliest due first (overdue on top), cases without a
    deadline last; only the rows of the page are read."""
    dialect, flags = _dialect(), (bool(flt.q), flt.overdue)
    params = _params(campaign, flt, stage=stage, offset=offset, limit=limit)
    rows = list(_run(_statement(("dated", dialect, *flags), lambda: _with_deadline_rows(dialect, flt)), params))
    if len(rows) >= limit or flt.overdue:
        return rows
    if rows:
        rest_offset = 0
    else:  # the page starts past the dated cases: how many were there?
        count = _statement(("dated-count", dialect, *flags), lambda: _with_deadline_rows(dialect, flt, count=True))
        rest_offset = max(0, offset - (_run(count, params).scalar() or 0))
    undated = _statement(("undated", dialect, bool(flt.q)), lambda: _without_deadline_rows(dialect, flt))
    rows += _run(undated, {**params, "offset": rest_offset, "limit": limit - len(rows)})
    return rows


def column_page(campaign: Campaign, flt: BoardFilter, stage: str, *, offset: int = 0,
                limit: int = COLUMN_MORE) -> tuple[list[Card], int | None]:
    """One stage column's cards from ``offset``, and the offset of the next page (None at the end)."""
    rows = column_rows(campaign, flt, stage, offset=offset, limit=limit + 1)
    more = len(rows) > limit
    return _cards(campaign, rows[:limit], DaysLeft(campaign, flt.today)), (offset + limit if more else None)


def build_board(campaign: Campaign, flt: BoardFilter, *, first: int = COLUMN_FIRST) -> Board:
    """The board: counts per stage, each shown column's first ``first`` cards, their blockers at once."""
    counts, late = stage_counts(campaign, flt)
    shown = counts if not flt.overdue else late
    stages = [flt.stage] if flt.stage else [s.value for s in STAGE_ORDER]
    rows = {s: column_rows(campaign, flt, s, offset=0, limit=first) if shown[s] else [] for s in stages}
    cards = _cards(campaign, [r for s in stages for r in rows[s]], DaysLeft(campaign, flt.today))
    by_stage: dict[str, list[Card]] = {s: [] for s in stages}
    for card in cards:
        by_stage[card.stage].append(card)
    columns = [Column(stage=s, count=shown[s], overdue=late[s], cards=by_stage[s],
                      next_offset=first if shown[s] > first else None) for s in stages]
    return Board(campaign=campaign, filter=flt, columns=columns, counts=shown, overdue_by_stage=late)


# --- the table --------------------------------------------------------------------------------------

def _table_where(stmt, dialect: str, flt: BoardFilter):
    stmt = stmt.where(CASES.c.campaign_id == bindparam("cid"))
    if flt.stage:
        stmt = stmt.where(CASES.c.stage == bindparam("stage"))
    if flt.overdue:
        stmt = stmt.where(_binding_overdue())
    if flt.on_time:
        stmt = stmt.where(~_binding_overdue())
    if flt.due_window:
        stmt = stmt.where(_binding_due_within(flt.due_from is not None, flt.due_to is not None))
    if flt.no_deadline:
        stmt = stmt.where(~_stage_has_deadline())
    if flt.past_stage:
        stmt = stmt.where(_past_stage())
    if flt.before_stage:
        stmt = stmt.where(CASES.c.stage.in_(bindparam("earlier_stages", expanding=True)))
    if flt.q:
        stmt = stmt.where(_search_clause(dialect))
    if flt.commune:
        stmt = stmt.where(COMMUNES.c.code == bindparam("commune"))
    if flt.scope_commune_id is not None:
        stmt = stmt.where(CASES.c.commune_id == bindparam("scope_commune_id"))
    return stmt


def _table_flags(flt: BoardFilter) -> tuple:
    """The shape of the table's statement under ``flt`` (statements are cached per shape)."""
    return (bool(flt.stage), flt.overdue, bool(flt.q), flt.on_time, bool(flt.commune),
            flt.scope_commune_id is not None, flt.due_from is not None, flt.due_to is not None, flt.no_deadline,
            bool(flt.past_stage), bool(flt.before_stage))


_BLOCKERS_BY_CASE = _campaign_blockers()


def _table_order(sort: str, descending: bool):
    """ORDER BY for the table; ties keep a stable order by commune code, then case id. Communes sort in
    Vietnamese alphabetical order (their stored ``name_key``), the name breaking ties of the key."""
    if sort == "commune":
        key = COMMUNES.c.name_key
    elif sort == "stage":
        key = case({s.value: i for i, s in enumerate(STAGE_ORDER)}, value=CASES.c.stage, else_=len(STAGE_ORDER))
    elif sort in ("due", "days_left"):
        key = _binding_due()  # working days left grow with the due date: one order for both
    elif sort == "blockers":
        key = func.coalesce(_BLOCKERS_BY_CASE.c.blockers, 0)
    else:
        key = COMMUNES.c.code
    ordered = key.desc() if descending else key.asc()
    if sort in ("due", "days_left"):
        ordered = ordered.nulls_last()  # cases without a deadline last, either way
    if sort == "commune":  # names equal but for case or where the tone sits ("Hòa", "Hoà")
        return [ordered, COMMUNES.c.name.desc() if descending else COMMUNES.c.name, COMMUNES.c.code, CASES.c.id]
    return [ordered, COMMUNES.c.code, CASES.c.id]


def _table_rows_stmt(dialect: str, flt: BoardFilter, sort: str, descending: bool, paged: bool):
    stmt = (select(CASES.c.id, CASES.c.stage, COMMUNES.c.code, COMMUNES.c.name)
            .select_from(CASES).join(COMMUNES, COMMUNES.c.id == CASES.c.commune_id))
    if sort == "blockers":
        stmt = stmt.outerjoin(_BLOCKERS_BY_CASE, _BLOCKERS_BY_CASE.c.case_id == CASES.c.id)
    stmt = _table_where(stmt, dialect, flt).order_by(*_table_order(sort, descending))
    return stmt.limit(bindparam("limit")).offset(bindparam("offset")) if paged else stmt


def _table_count_stmt(dialect: str, flt: BoardFilter):
    stmt = select(func.count()).select_from(CASES)
    if flt.q or flt.commune:
        stmt = stmt.join(COMMUNES, COMMUNES.c.id == CASES.c.commune_id)
    return _table_where(stmt, dialect, flt)


@dataclass(frozen=True)
class TablePage:
    cards: list[Card]
    total: int
    page: int
    pages: int
    sort: str
    descending: bool


def parse_sort(args) -> tuple[str, bool]:
    sort = args.get("sort") or "code"
    return (sort if sort in SORTS else "code"), (args.get("dir") == "desc")


def _table_params(campaign: Campaign, flt: BoardFilter, **more) -> dict:
    params = _params(campaign, flt, **more)
    if flt.stage:
        params["stage"] = flt.stage
    if flt.commune:
        params["commune"] = flt.commune
    if flt.due_from is not None:
        params["due_from"] = flt.due_from
    if flt.due_to is not None:
        params["due_to"] = flt.due_to
    if flt.past_stage:
        params["past_stage"], params["later_stages"] = flt.past_stage, _stages_around(flt.past_stage)[1]
    if flt.before_stage:
        params["earlier_stages"] = _stages_around(flt.before_stage)[0]
    if flt.scope_commune_id is not None:
        params["scope_commune_id"] = flt.scope_commune_id
    return params


def table_page(campaign: Campaign, flt: BoardFilter, *, sort: str = "code", descending: bool = False,
               page: int = 1, size: int = TABLE_PAGE) -> TablePage:
    """One page of the filtered cases in the table's order, with the total."""
    dialect, flags = _dialect(), _table_flags(flt)
    params = _table_params(campaign, flt, cs=campaign.criteria_set_id)
    total = _run(_statement(("table-count", dialect, *flags), lambda: _table_count_stmt(dialect, flt)),
                 params).scalar() or 0
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    stmt = _statement(("table", dialect, *flags, sort, descending),
                      lambda: _table_rows_stmt(dialect, flt, sort, descending, paged=True))
    rows = _run(stmt, {**params, "offset": (page - 1) * size, "limit": size}).all()
    cards = _cards(campaign, rows, DaysLeft(campaign, flt.today), with_deadlines=False)
    return TablePage(cards=cards, total=total, page=page, pages=pages, sort=sort, descending=descending)


def table_window(campaign: Campaign, flt: BoardFilter, *, offset: int, limit: int) -> tuple[int, list[int]]:
    """(how many cases match, the ids of at most ``limit`` of them from ``offset``) in the table's order by
    commune code: two indexed queries whatever the campaign's size (the API's case list)."""
    dialect, flags = _dialect(), _table_flags(flt)
    params = _table_params(campaign, flt)
    total = _run(_statement(("table-count", dialect, *flags), lambda: _table_count_stmt(dialect, flt)),
                 params).scalar() or 0
    if limit <= 0 or offset >= total:
        return total, []
    stmt = _statement(("table", dialect, *flags, "code", False),
                      lambda: _table_rows_stmt(dialect, flt, "code", False, paged=True))
    return total, [row[0] for row in _run(stmt, {**params, "offset": offset, "limit": limit})]


def cases_by_id(case_ids: Sequence[int]) -> dict[int, Case]:
    """The cases of ``case_ids`` with their communes: one query."""
    if not case_ids:
        return {}
    stmt = select(Case).options(joinedload(Case.commune)).where(Case.id.in_(list(case_ids)))
    return {c.id: c for c in db.session.scalars(stmt)}


def table_rows(campaign: Campaign, flt: BoardFilter, *, sort: str = "code",
               descending: bool = False) -> Iterator[Card]:
    """Every filtered case in the table's order (what the exports hold), enriched batch by batch."""
    dialect, flags = _dialect(), _table_flags(flt)
    days = DaysLeft(campaign, flt.today)
    stmt = _statement(("table-all", dialect, *flags, sort, descending),
                      lambda: _table_rows_stmt(dialect, flt, sort, descending, paged=False))
    rows = _run(stmt, _table_params(campaign, flt, cs=campaign.criteria_set_id)).all()
    for start in range(0, len(rows), EXPORT_BATCH):
        yield from _cards(campaign, rows[start:start + EXPORT_BATCH], days, with_deadlines=False)


# --- exports ----------------------------------------------------------------------------------------

def export_values(card: Card, stage_title, status_title) -> list:
    """One card as export cells (typed: the due date a date, counts integers)."""
    return [card.commune_code, card.commune_name, stage_title(card.stage), card.due,
            card.working_days_left, status_title(card.status), card.blockers]


EXPORT_KEYS = ("code", "commune", "stage", "due", "working_days_left", "status", "blockers")


def write_csv(cards, headers: Sequence[str], stage_title, status_title, out: IO[str]) -> int:
    """CSV for Excel: a BOM (so Vietnamese opens right), dd/mm/yyyy dates, formula-looking cells neutralised."""
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([csv_safe(h) for h in headers])
    n = 0
    for card in cards:
        cells = []
        for value in export_values(card, stage_title, status_title):
            if value is None:
                cells.append("")
            elif isinstance(value, dt.date):
                cells.append(value.strftime("%d/%m/%Y"))
            elif isinstance(value, int):
                cells.append(str(value))  # a negative count is a number, not a formula
            else:
                cells.append(csv_safe(str(value)))
        writer.writerow(cells)
        n += 1
    return n


def csv_bytes(cards, headers, stage_title, status_title) -> bytes:
    buffer = io.StringIO()
    write_csv(cards, headers, stage_title, status_title, buffer)
    return buffer.getvalue().encode("utf-8")


def xlsx_bytes(cards, headers: Sequence[str], stage_title, status_title, sheet_title: str = "Cases") -> bytes:
    """An Excel workbook (streamed, write-only): a bold header row with an autofilter, real dates shown
    dd/mm/yyyy, text kept as text even when it starts with "=" (never a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_title[:31])
    for i, width in enumerate((12, 30, 26, 12, 10, 14, 10), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in headers:
        cell = WriteOnlyCell(ws, value=title)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    due_at = EXPORT_KEYS.index("due")
    n = 0
    for card in cards:
        values = export_values(card, stage_title, status_title)
        row = []
        for i, value in enumerate(values):
            if i == due_at and value is not None:
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = "DD/MM/YYYY"
                row.append(cell)
            elif isinstance(value, str) and value.startswith("="):
                cell = WriteOnlyCell(ws, value=value)
                cell.data_type = "s"  # openpyxl takes text starting with "=" for a formula: keep it text
                row.append(cell)
            else:
                row.append(value)
        ws.append(row)
        n += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{n + 1}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
