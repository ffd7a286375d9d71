"""Deadline rows of a case: opened when a stage is entered, completed when it is left."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from models import Campaign, CampaignStageDue, Case, Deadline, db

from .calendar import RolledDate, WorkingCalendar
from .reminders import calendar_of, first_notice_at
from .txn import in_chunks

_PLAN_DUE = select(CampaignStageDue.due).where(CampaignStageDue.campaign_id == bindparam("campaign_id"),
                                             CampaignStageDue.stage == bindparam("stage"))


def _plan_due(campaign: Campaign, stage: str) -> dt.date | None:
    """The plan's due date for ``stage``: from the loaded dues, else one indexed read (not the whole list)."""
    if "stage_dues" in campaign.__dict__:
        found = campaign.due_for(stage)
        return found.due if found is not None else None
    return db.session.connection().execute(_PLAN_DUE, {"campaign_id": campaign.id, "stage": stage}).scalar()


@dataclass(frozen=True)
class Opened:
    """The stage deadline ``open_stage_deadline`` wrote (its row is written with one statement, not loaded)."""

    case_id: int
    stage: str
    plan_due: dt.date
    due: dt.date
    explanation: str
    next_notice_at: dt.datetime | None


_DEADLINES = Deadline.__table__


def _open_statement(dialect_insert):
    """INSERT the (case, stage) row, or reopen it where the case had it (a stage entered again after a
    reopen or a revision): one statement either way, on the deadlines' unique key."""
    stmt = dialect_insert(_DEADLINES).values(case_id=bindparam("k_case"), stage=bindparam("k_stage"), kind="stage",
                                              round=0, plan_due=bindparam("plan_due"), due=bindparam("due"),
                                              explanation=bindparam("explanation"),
                                              next_notice_at=bindparam("next_notice_at"))  # created_at: its default
    return stmt.on_conflict_do_update(
        index_elements=[_DEADLINES.c.case_id, _DEADLINES.c.stage, _DEADLINES.c.kind, _DEADLINES.c.round],
        set_={"completed_at": None, "plan_due": stmt.excluded.plan_due, "due": stmt.excluded.due,
              "explanation": stmt.excluded.explanation, "next_notice_at": stmt.excluded.next_notice_at})


_OPEN = {"sqlite": _open_statement(sqlite.insert), "postgresql": _open_statement(postgresql.insert)}
_COMPLETE = (update(_DEADLINES)
             .where(_DEADLINES.c.case_id == bindparam("k_case"), _DEADLINES.c.stage == bindparam("k_stage"),
                    _DEADLINES.c.completed_at.is_(None))
             .values(completed_at=bindparam("now"), next_notice_at=None))


def _forget_loaded(case_id: int | None = None) -> None:
    """Expire the Deadline objects already in the session (of one case, or all): their rows were just
    written in SQL."""
    session = db.session()
    for obj in list(session.identity_map.values()):
        if type(obj) is Deadline and (case_id is None or obj.__dict__.get("case_id", case_id) == case_id):
            session.expire(obj)


def open_stage_deadline(case: Case, stage: str, cal: WorkingCalendar | None = None) -> Opened | None:
    """Open (or reopen) the plan's deadline for ``stage``; None when the plan sets no due for it.

    One statement (an upsert of the (case, stage) row), written directly in the caller's transaction:
    this is every transition's path.
    """
    plan_due = _plan_due(case.campaign, stage)
    if plan_due is None:
        return None
    cal = cal or calendar_of(case.campaign)
    rolled = cal.roll_forward(plan_due)
    # the sweep walks the notices from the first one; those already queued are recognised by key
    opened = Opened(case.id, stage, plan_due, rolled.date, rolled.explanation,
                    first_notice_at(case.campaign, rolled.date))
    params = {"k_case": case.id, "k_stage": stage, "plan_due": plan_due, "due": opened.due,
              "explanation": opened.explanation, "next_notice_at": opened.next_notice_at}
    conn = db.session.connection()
    conn.execute(_OPEN[conn.dialect.name], params)
    _forget_loaded(case.id)
    return opened


def open_stage_deadlines(campaign: Campaign, case_ids: list[int], stage: str,
                         cal: WorkingCalendar | None = None) -> dt.date | None:
    """``open_stage_deadline`` for many cases of ``campaign``, set-based: the due computed once, the rows
    of ``stage`` some cases already have reopened with one UPDATE, the others inserted in one statement.

    Returns the due every opened row holds, or None when the plan sets no due for ``stage``.
    """
    plan_due = _plan_due(campaign, stage)
    if plan_due is None:
        return None
    rolled = (cal or calendar_of(campaign)).roll_forward(plan_due)
    values = {"completed_at": None, "plan_due": plan_due, "due": rolled.date,
              "explanation": rolled.explanation, "next_notice_at": first_notice_at(campaign, rolled.date)}
    mine = (Deadline.stage == stage, Deadline.kind == "stage", Deadline.round == 0)
    reopened: set[int] = set()
    for chunk in in_chunks(case_ids):
        found = db.session.execute(select(Deadline.id, Deadline.case_id)
                                   .where(Deadline.case_id.in_(chunk), *mine)).all()
        if found:  # ORM-enabled: rows of these cases already in the session see the new values too
            db.session.execute(update(Deadline).where(Deadline.id.in_([r.id for r in found])).values(values))
            reopened.update(r.case_id for r in found)
    new = [{"case_id": case_id, "stage": stage, "kind": "stage", "round": 0, **values}
           for case_id in case_ids if case_id not in reopened]
    if new:
        db.session.execute(insert(Deadline.__table__), new)
    return rolled.date


def open_revision_deadline(case: Case, due: dt.date, cal: WorkingCalendar | None = None) -> Deadline:
    cal = cal or calendar_of(case.campaign)
    rolled = cal.roll_forward(due, set_on_return=True)
    last_round = db.session.scalar(select(func.max(Deadline.round)).where(
        Deadline.case_id == case.id, Deadline.kind == "revision")) or 0
    row = Deadline(case_id=case.id, stage="self_assessment", kind="revision", round=last_round + 1,
                   plan_due=due, due=rolled.date, explanation=rolled.explanation,
                   next_notice_at=first_notice_at(case.campaign, rolled.date))
    db.session.add(row)
    return row


def explain(row, cal: WorkingCalendar) -> RolledDate:
    """How a deadline row's due date was reached, in English and Vietnamese, for pages and messages (the
    row keeps the English sentence as written when it was opened). A remediation item's sentence is its
    own (``remediation``) and is given as stored."""
    if row.stage == "remediation":
        return RolledDate(row.due, row.explanation or "", row.explanation or "")
    return cal.roll_forward(row.plan_due, set_on_return=row.kind == "revision")


def complete_open(case: Case, stage: str, now: dt.datetime) -> None:
    """Complete the case's open deadlines of ``stage``: a completed stage sends nothing more."""
    db.session.connection().execute(_COMPLETE, {"k_case": case.id, "k_stage": stage, "now": now})
    _forget_loaded(case.id)


def complete_open_in_stage(campaign_id: int, stage: str, now: dt.datetime) -> None:
    """``complete_open`` for every case of the campaign that is in ``stage``: one statement."""
    in_stage = select(Case.id).where(Case.campaign_id == campaign_id, Case.stage == stage).scalar_subquery()
    db.session.connection().execute(
        update(_DEADLINES).where(_DEADLINES.c.case_id.in_(in_stage), _DEADLINES.c.stage == stage,
                                 _DEADLINES.c.completed_at.is_(None))
        .values(completed_at=now, next_notice_at=None))
    _forget_loaded()


def complete_open_many(case_ids: list[int], stage: str, now: dt.datetime) -> None:
    """``complete_open`` for many cases: one UPDATE per 2,000 cases (rows in the session updated too)."""
    for chunk in in_chunks(case_ids):
        # a completed stage sends nothing more
        db.session.execute(update(Deadline).where(Deadline.case_id.in_(chunk), Deadline.stage == stage,
                                                  Deadline.completed_at.is_(None))
                           .values(completed_at=now, next_notice_at=None))



def of_case(case: Case) -> list[Deadline]:
    """Every deadline the case has had, open and completed, in the order they were opened."""
    return list(db.session.scalars(select(Deadline).where(Deadline.case_id == case.id)
                                   .order_by(Deadline.created_at, Deadline.id)))


def current_deadline(case: Case) -> Deadline | None:
    """The open deadline that binds the case now (a revision deadline wins over the stage's)."""
    rows = db.session.scalars(select(Deadline).where(
        Deadline.case_id == case.id, Deadline.stage == case.stage, Deadline.completed_at.is_(None))
    ).all()
    if not rows:
        return None
    return max(rows, key=lambda r: (r.kind == "revision", r.round))
