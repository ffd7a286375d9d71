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

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.orm.attributes import set_committed_value

from models import AuditEvent, Campaign, Case, Commune, Deadline, OutboxMessage, SchedulerState, db
from states import TRANSITIONS, Stage

from . import audit, cases, deadlines, guards, reminders, signoff
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
        from notifications import outbox, render

        self.outbox, self.report, self.rows = outbox, report, []
        self.render = render.CaseMessages()  # what many messages share is rendered once

    def __call__(self, key: str, message: dict) -> None:
        self.rows.append(self.outbox.enqueue_row(key=key, render=self.render, **message))

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
        db.session.flush()  # the claim reads the table: pending changes first (as an ORM query autoflushes)
        rows = _claim_due(now, campaign, batch if commit is not None else None)
        if not rows:
            break
        loaded, people = _load_batch(rows)
        missing = _missing_many(rows, loaded)
        # no flush per deadline: the reads below never need this batch's own writes (each deadline's
        # notices are decided once), so its moved deadlines and skip events go out together at flush()
        with db.session.no_autoflush, (progress(rows) if progress else nullcontext(rows)) as items:
            moves = []
            for row in items:
                report.deadlines += 1
                moves.append((row.id, _sweep_deadline(row, loaded[row.case_id], now, send, report, planners, people,
                                                   missing)))
        _move(moves)
        send.flush()
        if commit is None:
            break
        commit()
        report.batches += 1
    _mark_completed(report, ran_at or now, now)
    if commit is not None:
        commit()
    return report


@dataclass(frozen=True, slots=True)
class SweptCase:
    """What the sweep reads of a case: plain values, not an ORM object (thousands a sweep, each loaded,
    tracked and expired at commit), and its campaign. ``cases.readiness`` gets the real case."""

    id: int
    campaign_id: int
    commune_id: int
    stage: str
    commune_name: str
    campaign: Campaign

    @property
    def stage_enum(self) -> Stage:
        return Stage(self.stage)


_CASES, _COMMUNES, _DEADLINES = Case.__table__, Commune.__table__, Deadline.__table__
_LOAD_CASES = (select(_CASES.c.id, _CASES.c.campaign_id, _CASES.c.commune_id, _CASES.c.stage, _COMMUNES.c.name)
               .join(_COMMUNES, _COMMUNES.c.id == _CASES.c.commune_id)
               .where(_CASES.c.id.in_(bindparam("ids", expanding=True))))


def _load_batch(rows: list) -> tuple[dict[int, SweptCase], dict[int, reminders.Directory]]:
    """The batch's cases (with communes and campaigns) by id, and each campaign's directory of people."""
    # the cases with their communes in one query, not one per deadline
    found = db.session.execute(_LOAD_CASES, {"ids": sorted({row.case_id for row in rows})}).all()
    # their campaigns apart (few): joined, each campaign's JSON columns were parsed again for every case
    campaigns = {c.id: c for c in db.session.scalars(
        select(Campaign).where(Campaign.id.in_({r.campaign_id for r in found})))}
    loaded = {r.id: SweptCase(r.id, r.campaign_id, r.commune_id, r.stage, r.name, campaigns[r.campaign_id])
              for r in found}
    # per campaign: its people, read once per batch (rows, so read again after a commit), and of
    # the communes only those of this batch's cases (not every commune's users again per batch)
    communes: dict[int, set[int]] = {}
    for c in loaded.values():
        communes.setdefault(c.campaign_id, set()).add(c.commune_id)
    people = {campaign_id: reminders.Directory(c.campaign, commune_ids=_only(communes[campaign_id]), plain=True)
              for campaign_id, c in {c.campaign_id: c for c in loaded.values()}.items()}
    return loaded, people


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


_CLAIMED = (_DEADLINES.c.id, _DEADLINES.c.case_id, _DEADLINES.c.stage, _DEADLINES.c.kind, _DEADLINES.c.round,
            _DEADLINES.c.plan_due, _DEADLINES.c.due, _DEADLINES.c.explanation, _DEADLINES.c.next_notice_at)


def _claim_due(now: dt.datetime, campaign: Campaign | None, limit: int | None) -> list:
    """Open deadlines with a notice due, earliest first; on PostgreSQL locked for this transaction.

    Rows of the deadline's columns (``row.id``, ``row.due``, ...), not ORM objects.
    """
    stmt = select(*_CLAIMED).where(_DEADLINES.c.completed_at.is_(None), _DEADLINES.c.next_notice_at <= now)
    if campaign is not None:
        stmt = stmt.join(_CASES, _CASES.c.id == _DEADLINES.c.case_id).where(_CASES.c.campaign_id == campaign.id)
    stmt = stmt.order_by(_DEADLINES.c.next_notice_at, _DEADLINES.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        # another sweeper's rows are left to it; SQLite serialises writers instead
        stmt = stmt.with_for_update(skip_locked=True, of=_DEADLINES)
    return list(db.session.execute(stmt).all())


def _sweep_deadline(row, case: SweptCase, now: dt.datetime, send, report: SweepReport,
                    planners: dict[int, reminders.Planner], directories: dict[int, reminders.Directory],
                    missing: dict[tuple[int, str], list[str]]) -> dt.datetime | None:
    """Queue (or skip) what is due of one deadline; returns when it must next be looked at (None: never)."""
    campaign = case.campaign
    if campaign.id not in planners:
        planners[campaign.id] = reminders.Planner(campaign)
    planner, people = planners[campaign.id], directories[campaign.id]
    policy = planner.policy
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
            facts = _facts(case, row, planner, now, campaign, missing)
        for user in to:
            send(message_key(m.kind, case.id, row.id, m.level, user.email),
                 {"kind": m.kind, "case": case, "deadline": row, "level": m.level, "recipient": user,
                  "scheduled_for": m.at, "now": now, "facts": dict(facts)})
    upcoming = [m.at for m in planned if m.at > now]
    return min(upcoming) if upcoming else None


_MOVE = (update(_DEADLINES).where(_DEADLINES.c.id.in_(bindparam("ids", expanding=True)))
         .values(next_notice_at=bindparam("next")))


def _move(moves: list[tuple[int, dt.datetime | None]]) -> None:
    """Set each deadline's next notice: one UPDATE per distinct moment (a batch shares a few), not one a row.

    A deadline the session holds as an object is given the same value, so the session stays in step.
    """
    by_moment: dict[dt.datetime | None, list[int]] = {}
    for deadline_id, at in moves:
        by_moment.setdefault(at, []).append(deadline_id)
    for at, ids in by_moment.items():
        db.session.connection().execute(_MOVE, {"ids": ids, "next": at})
    held = db.session.identity_map
    if held:
        key_of = inspect(Deadline).identity_key_from_primary_key
        for deadline_id, at in moves:
            loaded = held.get(key_of((deadline_id,)))
            if loaded is not None:
                set_committed_value(loaded, "next_notice_at", at)


def _skip(case: SweptCase, row, m: Moment, now: dt.datetime, reason: str, report: SweepReport) -> None:
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


def _missing_many(rows: list, loaded: dict[int, SweptCase]) -> dict[tuple[int, str], list[str]]:
    """``cases.readiness`` of each due deadline's completing transition, as text, for the whole batch.

    A case in the transition's stage with no pending sign-off is blocked by the guards alone: those
    are read for all such cases at once (``guards.blockers_many``). The others (a case past the stage,
    a pending sign-off: few) get ``cases.readiness`` itself.
    """
    wanted: dict[str, dict[int, SweptCase]] = {}
    for row in rows:
        transition = COMPLETING_TRANSITION.get(row.stage)
        if transition:
            wanted.setdefault(transition, {})[row.case_id] = loaded[row.case_id]
    pending = signoff.pending_for_many(sorted({case_id for by_case in wanted.values() for case_id in by_case}))
    out: dict[tuple[int, str], list[str]] = {}
    for transition, by_case in wanted.items():
        spec = TRANSITIONS.get(transition)
        plain = [] if spec is None else [case for case_id, case in by_case.items()
                                         if case.stage_enum == spec.source and case_id not in pending]
        found = {name: guards.blockers_many(name, plain) for name in spec.guards} if plain else {}
        texts: dict[tuple[int, ...], list[str]] = {}  # cases often share their blockers' tuple: str() it once
        for case in plain:
            shared = tuple(id(found[name][case.id]) for name in spec.guards)
            if shared not in texts:
                texts[shared] = [str(b) for name in spec.guards for b in found[name][case.id]]
            out[(case.id, transition)] = texts[shared]
        for case_id in by_case:
            if (case_id, transition) not in out:
                real = db.session.get(Case, case_id)
                out[(case_id, transition)] = [str(b) for b in cases.readiness(real, transition)]
    return out


def _facts(case: SweptCase, row, planner: reminders.Planner, now: dt.datetime, campaign: Campaign,
           missing: dict[tuple[int, str], list[str]]) -> dict:
    """What the message says, as of the sweep's moment."""
    today = now.astimezone(planner.tz).date()
    transition = COMPLETING_TRANSITION.get(row.stage)
    explained = deadlines.explain(row, planner.cal)  # each message in its reader's language
    return {
        "due": row.due, "plan_due": row.plan_due, "explanation": explained.explanation,
        "explanation_vi": explained.explanation_vi,
        "working_days_left": planner.working_days_between(today, row.due),
        "days_late": max(0, (today - row.due).days),
        "missing": list(missing[(case.id, transition)]) if transition else [], "stage": row.stage,
        "commune_name": case.commune_name, "campaign_key": campaign.key, "case_id": case.id,
    }
