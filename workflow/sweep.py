"""The reminder sweep: put every notice that has come due into the outbox, once.

It reads only open deadlines whose ``next_notice_at`` has passed (a partial index), so a sweep with
nothing due is one indexed query. Messages are enqueued in the caller's transaction and leave after
commit, from the delivery job.

Given ``commit``, the sweep works in batches of ``batch`` deadlines, one transaction each: a batch's
messages and the advance of its deadlines' ``next_notice_at`` commit together, so a process killed
mid-sweep leaves every deadline either fully swept or untouched. On PostgreSQL each batch locks its
deadline rows with ``FOR UPDATE SKIP LOCKED``: two scheduler processes sweeping at once share the
deadlines instead of both working on the same ones (the unique outbox keys stay the last guard).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from models import AuditEvent, Campaign, Case, Deadline, OutboxMessage, SchedulerState, db

from . import audit, cases, reminders
from .reminders import COMPLETING_TRANSITION, Moment

SWEEP_JOB = "sweep"


@dataclass
class SweepReport:
    as_of: dt.datetime
    deadlines: int = 0  # open deadlines that had something due
    enqueued: int = 0  # new outbox messages
    already_queued: int = 0  # messages whose key was already in the outbox
    skipped: int = 0  # notices recorded as skipped (too late, superseded, nobody to send to)
    batches: int = 0  # transactions committed (batch mode)
    keys: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"sweep as of {self.as_of.isoformat()}: {self.deadlines} deadline(s) due, "
                f"{self.enqueued} message(s) queued, {self.already_queued} already queued, "
                f"{self.skipped} notice(s) skipped")


def message_key(kind: str, case_id: int, deadline_id: int, level: int, email: str) -> str:
    """The outbox key that makes one notice to one person impossible to queue twice."""
    return f"{kind}:case={case_id}:deadline={deadline_id}:level={level}:to={email}"


def notice_subject(kind: str, case_id: int, deadline_id: int, level: int) -> str:
    return f"{kind}:case={case_id}:deadline={deadline_id}:level={level}"


class _Immediate:
    """A caller-given ``enqueue``: each message queued (or found queued) at once."""

    def __init__(self, enqueue: Callable[..., bool], report: SweepReport):
        self.enqueue, self.report = enqueue, report

    def __call__(self, key: str, message: dict) -> None:
        if self.enqueue(key=key, **message):
            self.report.enqueued += 1
            self.report.keys.append(key)
        else:
            self.report.already_queued += 1

    def flush(self) -> None:
        db.session.flush()


class _Bulk:
    """The outbox's own enqueue, batched: messages rendered as they come, inserted in one statement."""

    def __init__(self, report: SweepReport):
        # the outbox belongs to notifications/; imported at call time so workflow stays importable alone
        from notifications import outbox

        self.outbox, self.report, self.rows = outbox, report, []

    def __call__(self, key: str, message: dict) -> None:
        self.rows.append(self.outbox.enqueue_row(key=key, **message))

    def flush(self) -> None:
        added = self.outbox.insert_many(self.rows)
        for row in self.rows:  # in the order decided, as one enqueue call after another would report
            if row["key"] in added:
                added.discard(row["key"])  # a key twice in one batch is queued once
                self.report.enqueued += 1
                self.report.keys.append(row["key"])
            else:
                self.report.already_queued += 1
        self.rows = []


# An empty sweep writes nothing, except this often its "last completed" time (``/healthz`` calls a
# sweep stale after 15 minutes); remembered per database engine, in this process.
HEARTBEAT = dt.timedelta(minutes=1)
_last_marked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sweep(*, now: dt.datetime, campaign: Campaign | None = None, ran_at: dt.datetime | None = None,
          enqueue: Callable[..., bool] | None = None, progress=None, batch: int = 50,
          commit: Callable[[], None] | None = None) -> SweepReport:
    """Queue every notice due by ``now`` (skipping stale ones) and move each deadline to its next notice.

    ``ran_at`` is the wall-clock moment recorded as the last completed sweep (``now`` when not given);
    ``progress`` wraps the due deadlines for display (e.g. ``click.progressbar``). Without ``commit``
    it is one pass in the caller's transaction (the caller commits); with it, batches of ``batch``
    deadlines are committed one by one (the scheduler's way). With nothing due it is one indexed
    query and writes nothing (but the heartbeat above).
    """
    report = SweepReport(as_of=now)
    send = _Immediate(enqueue, report) if enqueue is not None else _Bulk(report)
    planners: dict[int, reminders.Planner] = {}  # policy and calendar: plain values, kept for the sweep
    while True:
        rows = _claim_due(now, campaign, batch if commit is not None else None)
        if not rows:
            break
        # the batch's cases with their communes and campaigns in one query, not one per deadline
        loaded = {c.id: c for c in db.session.scalars(
            select(Case).options(joinedload(Case.commune), joinedload(Case.campaign))
            .where(Case.id.in_({row.case_id for row in rows})))}
        # per campaign: its people, read once per batch (rows, so read again after a commit), and of
        # the communes only those of this batch's cases (not every commune's users again per batch)
        communes: dict[int, set[int]] = {}
        for c in loaded.values():
            communes.setdefault(c.campaign_id, set()).add(c.commune_id)
        people = {campaign_id: reminders.Directory(c.campaign, commune_ids=_only(communes[campaign_id]))
                  for campaign_id, c in {c.campaign_id: c for c in loaded.values()}.items()}
        # no flush per deadline: the reads below never need this batch's own writes (each deadline's
        # notices are decided once), so its moved deadlines and skip events go out together at flush()
        with db.session.no_autoflush, (progress(rows) if progress else nullcontext(rows)) as items:
            for row in items:
                report.deadlines += 1
                _sweep_deadline(row, loaded[row.case_id], now, send, report, planners, people)
        send.flush()
        if commit is None:
            break
        commit()
        report.batches += 1
    _mark_completed(report, ran_at or now, now)
    if commit is not None:
        commit()
    return report


def _only(commune_ids: set[int]) -> tuple[int, ...] | None:
    """The batch's communes for the directory; None (the whole campaign) past what an IN list should carry."""
    return tuple(sorted(commune_ids)) if len(commune_ids) <= 5000 else None


def _mark_completed(report: SweepReport, ran_at: dt.datetime, now: dt.datetime) -> None:
    """Record the last completed sweep; after an empty sweep only as a heartbeat."""
    engine = db.session.get_bind()
    last = _last_marked.get(engine)
    if report.deadlines == 0 and last is not None and abs(ran_at - last) < HEARTBEAT:
        return
    state = db.session.get(SchedulerState, SWEEP_JOB)
    if state is None:
        state = SchedulerState(name=SWEEP_JOB)
        db.session.add(state)
    state.last_completed_at, state.last_as_of = ran_at, now
    db.session.flush()
    _last_marked[engine] = ran_at


def _claim_due(now: dt.datetime, campaign: Campaign | None, limit: int | None) -> list[Deadline]:
    """Open deadlines with a notice due, earliest first; on PostgreSQL locked for this transaction."""
    stmt = select(Deadline).where(Deadline.completed_at.is_(None), Deadline.next_notice_at <= now)
    if campaign is not None:
        stmt = stmt.join(Case, Case.id == Deadline.case_id).where(Case.campaign_id == campaign.id)
    stmt = stmt.order_by(Deadline.next_notice_at, Deadline.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        # another sweeper's rows are left to it; SQLite serialises writers instead
        stmt = stmt.with_for_update(skip_locked=True, of=Deadline)
    return list(db.session.scalars(stmt).all())


def _sweep_deadline(row: Deadline, case: Case, now: dt.datetime, send, report: SweepReport,
                    planners: dict[int, reminders.Planner], directories: dict[int, reminders.Directory]) -> None:
    campaign = case.campaign
    if campaign.id not in planners:
        planners[campaign.id] = reminders.Planner(campaign)
    planner, people = planners[campaign.id], directories[campaign.id]
    policy, cal = planner.policy, planner.cal
    planned = planner.moments(row.due)
    start = row.next_notice_at
    due_now = [m for m in planned if start <= m.at <= now]
    # after downtime only the latest notice of each kind goes out; the earlier ones are superseded
    latest: dict[str, Moment] = {}
    for m in due_now:
        if m.kind not in latest or m.sort_key > latest[m.kind].sort_key:
            latest[m.kind] = m
    facts = None
    for m in due_now:
        if m is not latest[m.kind]:
            _skip(case, row, m, now, f"superseded by the later {m.kind} notice of level "
                                     f"{latest[m.kind].level}", report)
            continue
        late = now - m.at
        if late > policy.catch_up:
            hours = late.total_seconds() / 3600
            _skip(case, row, m, now, f"its moment passed {hours:.1f} hours ago, more than the "
                                     f"{policy.catch_up_hours:g} hours a notice may still be sent", report)
            continue
        to = people.recipients(case, row.stage, m)
        if not to:
            _skip(case, row, m, now, "nobody to send it to", report)
            continue
        if facts is None:
            facts = _facts(case, row, cal, now, campaign, planner.tz)
        for user in to:
            send(message_key(m.kind, case.id, row.id, m.level, user.email),
                 {"kind": m.kind, "case": case, "deadline": row, "level": m.level, "recipient": user,
                  "scheduled_for": m.at, "now": now, "facts": dict(facts)})
    upcoming = [m.at for m in planned if m.at > now]
    row.next_notice_at = min(upcoming) if upcoming else None


def _skip(case: Case, row: Deadline, m: Moment, now: dt.datetime, reason: str, report: SweepReport) -> None:
    """Record (once) that a notice was not sent and why."""
    subject = notice_subject(m.kind, case.id, row.id, m.level)
    # a reopened deadline walks its notices again: what was queued or skipped before stays as it was
    queued = db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.key.startswith(subject + ":to=", autoescape=True)).limit(1))
    recorded = db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.case_id == case.id, AuditEvent.action == "reminder.skipped",
        AuditEvent.subject == subject).limit(1))
    if queued is not None or recorded is not None:
        return
    audit.record("reminder.skipped", actor=None, now=now, case=case, subject=subject,
                 after={"deadline_id": row.id, "stage": row.stage, "kind": m.kind, "level": m.level,
                        "scheduled_for": m.at, "reason": reason})
    report.skipped += 1


def _facts(case: Case, row: Deadline, cal, now: dt.datetime, campaign: Campaign, tz) -> dict:
    """What the message says, as of the sweep's moment."""
    today = now.astimezone(tz).date()
    transition = COMPLETING_TRANSITION.get(row.stage)
    missing = [str(b) for b in cases.readiness(case, transition)] if transition else []
    return {
        "due": row.due, "plan_due": row.plan_due, "explanation": row.explanation,
        "working_days_left": cal.working_days_between(today, row.due),
        "days_late": max(0, (today - row.due).days), "missing": missing, "stage": row.stage,
        "commune_name": case.commune.name, "campaign_key": campaign.key, "case_id": case.id,
    }
