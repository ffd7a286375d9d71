"""Deadline rows of a case: opened when a stage is entered, completed when it is left."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, func, select

from models import Campaign, CampaignStageDue, Case, Deadline, db

from .calendar import WorkingCalendar
from .reminders import first_notice_at


def calendar_of(campaign: Campaign) -> WorkingCalendar:
    return WorkingCalendar.from_plan(campaign.calendar)


_PLAN_DUE = select(CampaignStageDue.due).where(CampaignStageDue.campaign_id == bindparam("campaign_id"),
                                             CampaignStageDue.stage == bindparam("stage"))


def _plan_due(campaign: Campaign, stage: str) -> dt.date | None:
    """The plan's due date for ``stage``: from the loaded dues, else one indexed read (not the whole list)."""
    if "stage_dues" in campaign.__dict__:
        found = campaign.due_for(stage)
        return found.due if found is not None else None
    return db.session.scalar(_PLAN_DUE, {"campaign_id": campaign.id, "stage": stage})


def open_stage_deadline(case: Case, stage: str, cal: WorkingCalendar | None = None) -> Deadline | None:
    """Open (or reopen) the plan's deadline for ``stage``; None when the plan sets no due for it."""
    plan_due = _plan_due(case.campaign, stage)
    if plan_due is None:
        return None
    cal = cal or calendar_of(case.campaign)
    rolled = cal.roll_forward(plan_due)
    row = db.session.scalar(select(Deadline).where(
        Deadline.case_id == case.id, Deadline.stage == stage, Deadline.kind == "stage", Deadline.round == 0))
    if row is None:
        row = Deadline(case_id=case.id, stage=stage, kind="stage", round=0, plan_due=plan_due,
                       due=rolled.date, explanation=rolled.explanation)
        db.session.add(row)
    else:
        row.completed_at = None
        row.plan_due, row.due, row.explanation = plan_due, rolled.date, rolled.explanation
    # the sweep walks the notices from the first one; those already queued are recognised by key
    row.next_notice_at = first_notice_at(case.campaign, row.due)
    return row


def open_stage_deadlines(campaign: Campaign, case_ids: list[int], stage: str,
                         cal: WorkingCalendar | None = None) -> dict[int, Deadline]:
    """``open_stage_deadline`` for many cases of ``campaign``: the due computed once, existing rows read once."""
    plan_due = _plan_due(campaign, stage)
    if plan_due is None:
        return {}
    rolled = (cal or calendar_of(campaign)).roll_forward(plan_due)
    notice = first_notice_at(campaign, rolled.date)
    found: dict[int, Deadline] = {}
    for i in range(0, len(case_ids), 2000):  # bounded IN lists
        found.update((row.case_id, row) for row in db.session.scalars(select(Deadline).where(
            Deadline.case_id.in_(case_ids[i:i + 2000]), Deadline.stage == stage, Deadline.kind == "stage",
            Deadline.round == 0)))
    for case_id in case_ids:
        row = found.get(case_id)
        if row is None:
            row = found[case_id] = Deadline(case_id=case_id, stage=stage, kind="stage", round=0)
            db.session.add(row)
        row.completed_at = None
        row.plan_due, row.due, row.explanation = plan_due, rolled.date, rolled.explanation
        row.next_notice_at = notice
    return found


def open_revision_deadline(case: Case, due: dt.date, cal: WorkingCalendar | None = None) -> Deadline:
    cal = cal or calendar_of(case.campaign)
    rolled = cal.roll_forward(due)
    last_round = db.session.scalar(select(func.max(Deadline.round)).where(
        Deadline.case_id == case.id, Deadline.kind == "revision")) or 0
    row = Deadline(case_id=case.id, stage="self_assessment", kind="revision", round=last_round + 1,
                   plan_due=due, due=rolled.date, explanation=rolled.explanation,
                   next_notice_at=first_notice_at(case.campaign, rolled.date))
    db.session.add(row)
    return row


def complete_open(case: Case, stage: str, now: dt.datetime) -> None:
    for row in db.session.scalars(select(Deadline).where(
            Deadline.case_id == case.id, Deadline.stage == stage, Deadline.completed_at.is_(None))):
        row.completed_at = now
        row.next_notice_at = None  # a completed stage sends nothing more


def complete_open_many(case_ids: list[int], stage: str, now: dt.datetime) -> None:
    """``complete_open`` for many cases: their open deadlines of ``stage`` read once."""
    for i in range(0, len(case_ids), 2000):
        complete = select(Deadline).where(Deadline.case_id.in_(case_ids[i:i + 2000]), Deadline.stage == stage,
                                          Deadline.completed_at.is_(None))
        for row in db.session.scalars(complete):
            row.completed_at = now
            row.next_notice_at = None


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
