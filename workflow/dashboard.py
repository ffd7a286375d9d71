"""The campaign dashboard: per stage, how many cases are on track, due soon, overdue or done.

Counted against the plan's dates as the cases carry them (each case's binding deadline: the plan's due
for its stage, moved by art. 148, or a revision deadline that replaced it). A few GROUP BY queries do
the counting, whatever the number of cases; Python then only adds up six stages.

For the row of stage S:
- a case in S is overdue (its binding deadline was before today), due soon (at most N working days
  left), on track (more), done (it holds no open deadline of S but a completed one), or has no deadline
  (the plan sets no due for S);
- a case past S in the stage order is done with S; a case before S has not reached it.
The overdue test is the board's, so the board's "overdue only" column shows the same cases.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Date, and_, bindparam, case, exists, func, literal, or_, select

from models import Campaign, Case, CouncilSeat, Deadline, User, db
from states import COUNCIL_ROLES, STAGE_ORDER

from . import access
from .calendar import RolledDate
from .clock import local_date
from .deadlines import calendar_of
from .errors import NotFound, NotPermitted

DEFAULT_DUE_SOON_WORKING_DAYS = 5  # the first reminder of the seed plan goes out 5 working days before
MAX_DUE_SOON_WORKING_DAYS = 60

ON_TRACK, DUE_SOON, OVERDUE, DONE, NO_DEADLINE, NOT_REACHED = (
    "on_track", "due_soon", "overdue", "done", "no_deadline", "not_reached")
BUCKETS = (ON_TRACK, DUE_SOON, OVERDUE, DONE, NO_DEADLINE, NOT_REACHED)


# --- who may read it ---------------------------------------------------------------------------------

def _is_wide_reader(user: User) -> bool:
    return bool(user.roles & access.CAMPAIGN_WIDE_READERS)


def campaigns_for(user: User | None) -> list[Campaign]:
    """The campaigns ``user`` may see on the dashboard, newest first; NotPermitted for everyone else.

    The secretariat, the authority and auditors see every campaign; council members the campaigns whose
    council they sit on. Commune officers and chairs see one commune only, never a campaign's totals."""
    if user is None or not user.is_active:
        raise NotPermitted("Only the secretariat, the authority, the council and auditors may see the dashboard.")
    stmt = select(Campaign).order_by(Campaign.year.desc(), Campaign.key)
    if _is_wide_reader(user):
        return list(db.session.scalars(stmt))
    if user.roles & COUNCIL_ROLES:
        seated = select(CouncilSeat.campaign_id).where(CouncilSeat.user_id == user.id)
        return list(db.session.scalars(stmt.where(Campaign.id.in_(seated))))
    raise NotPermitted("Only the secretariat, the authority, the council and auditors may see the dashboard.")


def pick_campaign(user: User | None, key: str | None) -> tuple[list[Campaign], Campaign | None]:
    """(the campaigns ``user`` may choose from, the one named by ``key`` or else the newest)."""
    campaigns = campaigns_for(user)
    if key:
        chosen = next((c for c in campaigns if c.key == key), None)
        if chosen is None:  # missing and "not yours" look the same
            raise NotFound(f"No campaign {key}.")
        return campaigns, chosen
    return campaigns, campaigns[0] if campaigns else None


def parse_due_soon(raw: str | None, default: int = DEFAULT_DUE_SOON_WORKING_DAYS) -> int:
    """The "due soon" window in working days from a request argument; a bad value gives the default."""
    text = (raw or "").strip()
    if text.isdigit() and int(text) <= MAX_DUE_SOON_WORKING_DAYS:
        return int(text)
    return default


# --- the counts -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageLine:
    """One stage's row: the plan's date for it and the cases in each bucket."""

    stage: str
    plan_raw: str | None  # the due as the plan writes it ("2023-11-10", "2024-01")
    plan_due: dt.date | None
    rolled: RolledDate | None  # the last allowed day after art. 148, with its explanation
    counts: dict[str, int]
    in_stage: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Dashboard:
    campaign: Campaign
    today: dt.date
    due_soon_days: int
    soon_until: dt.date  # due on or before this day (and not before today): due soon
    lines: list[StageLine]
    total: int


def soon_until(campaign: Campaign, today: dt.date, n: int) -> dt.date:
    """The last due date with at most ``n`` working days left as of ``today`` (the board's count:
    working days in (today, due]): the day before the (n+1)-th working day after today."""
    return calendar_of(campaign).add_working_days(today, n + 1) - dt.timedelta(days=1)


_STATEMENTS: dict[str, dict[str, object]] = {}


def _statements(dialect: str) -> dict[str, object]:
    """The counting statements, built once per dialect and bound per request (campaign, today, last
    due-soon day). Set-based: open deadlines are read once and joined to their cases."""
    if dialect in _STATEMENTS:
        return _STATEMENTS[dialect]
    stmts: dict[str, object] = {}
    cases, d, better = Case.__table__, Deadline.__table__.alias("d"), Deadline.__table__.alias("better")
    stages = [s.value for s in STAGE_ORDER]
    # SQLite: "campaign_id + 0" keeps the planner from starting at the cases and probing each one's
    # deadlines (3x slower with 10,000 cases) rather than reading the open-deadline index; PostgreSQL's
    # hash join needs the plain column (the expression spoils its estimate: 2x slower)
    in_campaign = ((cases.c.campaign_id + 0) if dialect == "sqlite" else cases.c.campaign_id) == bindparam("cid")
    of_its_case = and_(cases.c.id == d.c.case_id, cases.c.stage == d.c.stage)

    def bucket(due):
        return case((due < bindparam("today", type_=Date), literal(OVERDUE)),
                    (due <= bindparam("soon", type_=Date), literal(DUE_SOON)), else_=literal(ON_TRACK))

    def grouped(rows):
        return select(rows.c.stage, rows.c.bucket, func.count()).group_by(rows.c.stage, rows.c.bucket)

    # cases per stage, from the (campaign_id, stage) index
    stmts["stages"] = (select(cases.c.stage, func.count()).where(cases.c.campaign_id == bindparam("cid"))
                             .group_by(cases.c.stage))
    # every open deadline of a case's current stage, by its due
    stmts["open"] = grouped(
        select(d.c.stage.label("stage"), bucket(d.c.due).label("bucket")).select_from(d).join(cases, of_its_case)
        .where(d.c.completed_at.is_(None), d.c.stage.in_(stages), in_campaign).subquery("open_rows"))
    # open deadlines that do not bind, to take away: a revision deadline binds instead of the stage's, a
    # later revision round instead of an earlier one (stage deadlines have round 0), as on the board
    outranked = (select(d.c.id, d.c.stage.label("stage"), d.c.due).distinct().select_from(better)
                 .join(d, and_(d.c.case_id == better.c.case_id, d.c.stage == better.c.stage,
                               d.c.completed_at.is_(None), or_(d.c.kind != "revision", d.c.round < better.c.round)))
                 .join(cases, of_its_case)
                 .where(better.c.completed_at.is_(None), better.c.kind == "revision", better.c.stage.in_(stages),
                        in_campaign).subquery("outranked"))
    stmts["outranked"] = grouped(select(outranked.c.stage, bucket(outranked.c.due).label("bucket"))
                                       .subquery("outranked_rows"))
    # of the cases with no open deadline of their stage (few: e.g. planning), those that completed one
    done = Deadline.__table__.alias("done")
    has_open = exists().where(d.c.case_id == cases.c.id, d.c.stage == cases.c.stage, d.c.completed_at.is_(None))
    completed = exists().where(done.c.case_id == cases.c.id, done.c.stage == cases.c.stage,
                               done.c.completed_at.is_not(None))
    stmts["done"] = (select(cases.c.stage, func.count())
                           .where(cases.c.campaign_id == bindparam("cid"),
                                  cases.c.stage.in_(bindparam("unbound", expanding=True)), ~has_open, completed)
                           .group_by(cases.c.stage))
    _STATEMENTS[dialect] = stmts
    return stmts


def bucket_counts(campaign: Campaign, today: dt.date, soon: dt.date) -> dict[str, dict[str, int]]:
    """Cases per current stage and bucket (on track, due soon, overdue, done, no deadline): set-based."""
    stmts = _statements(db.session.get_bind().dialect.name)
    params = {"cid": campaign.id, "today": today, "soon": soon}
    counts = {s.value: dict.fromkeys((ON_TRACK, DUE_SOON, OVERDUE, DONE, NO_DEADLINE), 0) for s in STAGE_ORDER}
    in_stage = dict.fromkeys(counts, 0)
    for stage, n in db.session.execute(stmts["stages"], params):
        if stage in in_stage:
            in_stage[stage] = n
    for key, sign in (("open", 1), ("outranked", -1)):
        for stage, bucket, n in db.session.execute(stmts[key], params):
            counts[stage][bucket] += sign * n
    unbound = [s for s in counts if in_stage[s] > sum(counts[s].values())]
    if unbound:
        for stage, n in db.session.execute(stmts["done"], {**params, "unbound": unbound}):
            counts[stage][DONE] = n
    for stage, row in counts.items():
        row[NO_DEADLINE] = in_stage[stage] - row[ON_TRACK] - row[DUE_SOON] - row[OVERDUE] - row[DONE]
    return counts


def build(campaign: Campaign, now: dt.datetime, due_soon_days: int = DEFAULT_DUE_SOON_WORKING_DAYS) -> Dashboard:
    """The dashboard of ``campaign`` as of ``now`` (the campaign's local date)."""
    today = local_date(now, campaign.timezone or "Asia/Ho_Chi_Minh")
    soon = soon_until(campaign, today, due_soon_days)
    by_stage = bucket_counts(campaign, today, soon)
    in_stage = {s: sum(c.values()) for s, c in by_stage.items()}
    cal = calendar_of(campaign)
    lines = []
    order = [s.value for s in STAGE_ORDER]
    for i, stage in enumerate(order):
        due = campaign.due_for(stage)
        counts = dict(by_stage[stage])
        counts[DONE] += sum(in_stage[s] for s in order[i + 1:])
        counts[NOT_REACHED] = sum(in_stage[s] for s in order[:i])
        lines.append(StageLine(stage=stage, plan_raw=due.raw if due else None, plan_due=due.due if due else None,
                               rolled=cal.roll_forward(due.due) if due else None, counts=counts,
                               in_stage=in_stage[stage]))
    return Dashboard(campaign=campaign, today=today, due_soon_days=due_soon_days, soon_until=soon, lines=lines,
                     total=sum(in_stage.values()))

