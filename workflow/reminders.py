"""Reminder policy and schedule: which notices a deadline sends, when, and to whom.

A plan's ``reminders`` block says how many working days before the due day to remind, whether to
send an overdue notice (first working day after the due day) and which escalation levels follow
(counted in working days after the due day). Every notice goes out at 08:00 local time.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import lazyload

from models import Campaign, CampaignStaff, Case, Commune, Deadline, Signature, SignOff, User, UserRole, db
from states import Role, Stage

from .calendar import RolledDate, WorkingCalendar

SEND_HOUR = dt.time(8, 0)
DEFAULT_BEFORE = (5, 2, 0)
DEFAULT_CATCH_UP_HOURS = 24
KIND_ORDER = {"reminder": 0, "overdue": 1, "escalation": 2}

# Stages that carry a plan deadline, in the order a case meets them.
DEADLINE_STAGES: tuple[str, ...] = (Stage.self_assessment, Stage.appraisal, Stage.survey,
                                    Stage.council_meeting, Stage.publication)

# The transition that completes each stage: its readiness lists what is still missing.
COMPLETING_TRANSITION = {
    Stage.self_assessment: "submit",
    Stage.appraisal: "complete_appraisal",
    Stage.survey: "record_survey",
    Stage.council_meeting: "approve",
}

ESCALATION_ROLES = ("commune_chair", "secretariat_head", "authority_leader")


@dataclass(frozen=True)
class Escalation:
    level: int  # 1 for the first escalation in the plan
    after_working_days: int
    to: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """A campaign's ``reminders`` block with the plan-format defaults filled in."""

    before_working_days: tuple[int, ...] = DEFAULT_BEFORE
    overdue_notice: bool = True
    escalations: tuple[Escalation, ...] = ()
    catch_up_hours: float = DEFAULT_CATCH_UP_HOURS

    @classmethod
    def from_block(cls, block: dict | None) -> Policy:
        """Read a plan's ``reminders`` block; missing keys take the defaults."""
        block = block or {}
        before = block.get("before_working_days")
        escalations = tuple(
            Escalation(i, int(e["after_working_days"]), tuple(e.get("to") or ()))
            for i, e in enumerate(block.get("escalations") or [], start=1)
        )
        return cls(
            before_working_days=tuple(sorted({int(n) for n in before}, reverse=True))
            if before is not None else DEFAULT_BEFORE,
            overdue_notice=bool(block.get("overdue_notice", True)),
            escalations=escalations,
            catch_up_hours=float(block.get("catch_up_hours", DEFAULT_CATCH_UP_HOURS)),
        )

    @property
    def catch_up(self) -> dt.timedelta:
        return dt.timedelta(hours=self.catch_up_hours)


@dataclass(frozen=True)
class Moment:
    """One planned notice of a due day, before recipients are known."""

    kind: str  # reminder | overdue | escalation
    level: int  # reminder: working days before the due day; overdue: 0; escalation: 1, 2, ...
    day: dt.date  # local day it goes out
    at: dt.datetime  # UTC moment (08:00 local on ``day``)
    escalation: Escalation | None = None

    @property
    def sort_key(self):
        return (self.at, KIND_ORDER[self.kind], self.level)


def policy_of(campaign: Campaign) -> Policy:
    return _policy(json.dumps(campaign.reminders or {}, sort_keys=True))


@lru_cache(maxsize=256)
def _policy(block: str) -> Policy:
    """One Policy per distinct ``reminders`` block (given as canonical JSON, so it can be a cache key)."""
    return Policy.from_block(json.loads(block))


def calendar_of(campaign: Campaign) -> WorkingCalendar:
    return WorkingCalendar.from_plan(campaign.calendar)


def zone_of(campaign: Campaign) -> ZoneInfo:
    return ZoneInfo(campaign.timezone or "Asia/Ho_Chi_Minh")


def send_moment(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """08:00 local time on ``day``, as UTC."""
    return dt.datetime.combine(day, SEND_HOUR, tzinfo=tz).astimezone(dt.UTC)


def moments(policy: Policy, cal: WorkingCalendar, due: dt.date, tz: ZoneInfo) -> list[Moment]:
    """Every notice a due day sends under ``policy``, earliest first."""
    return list(_moments(policy, cal, due, tz))


@lru_cache(maxsize=4096)
def _moments(policy: Policy, cal: WorkingCalendar, due: dt.date, tz: ZoneInfo) -> tuple[Moment, ...]:
    """``moments``, kept: a plan's few due days are asked for again at every transition and sweep."""
    out = [Moment("reminder", n, d, send_moment(d, tz))
           for n in policy.before_working_days for d in [cal.working_days_before(due, n)]]
    if policy.overdue_notice:
        day = cal.working_days_after(due, 1)
        out.append(Moment("overdue", 0, day, send_moment(day, tz)))
    for esc in policy.escalations:
        day = cal.working_days_after(due, esc.after_working_days)
        out.append(Moment("escalation", esc.level, day, send_moment(day, tz), esc))
    return tuple(sorted(out, key=lambda m: m.sort_key))


def moments_for_campaign(campaign: Campaign, due: dt.date) -> list[Moment]:
    return moments(policy_of(campaign), calendar_of(campaign), due, zone_of(campaign))


def first_notice_at(campaign: Campaign, due: dt.date) -> dt.datetime | None:
    """When the sweep must first look at a deadline due on ``due`` (None: the plan sends nothing)."""
    found = moments_for_campaign(campaign, due)
    return found[0].at if found else None


# --- recipients ---------------------------------------------------------------------------------

def _unique(users) -> tuple[User, ...]:
    seen: dict[int, User] = {}
    for user in users:
        if user is not None and user.is_active and user.id not in seen:
            seen[user.id] = user
    return tuple(sorted(seen.values(), key=lambda u: u.email))


@dataclass(frozen=True, slots=True)
class Person:
    """A commune user as a notice needs them, as plain values: the sweep reads thousands per run."""

    id: int
    email: str
    name: str
    locale: str
    active: bool
    commune_id: int | None

    @property
    def is_active(self) -> bool:
        return bool(self.active)


class Directory:
    """Who plays which part in one campaign, read once: a schedule asks for every case and stage.

    With ``plain`` the communes' users come as ``Person`` values instead of ``User`` objects (the sweep).
    """

    def __init__(self, campaign: Campaign, commune_ids: tuple[int, ...] | None = None, *, plain: bool = False):
        self.campaign = campaign
        self.commune_ids = commune_ids  # read only these communes' users (one case's page)
        self.plain = plain
        self._staff: dict[str, tuple[User, ...]] | None = None
        self._commune: dict[tuple[int, str], list[User]] | None = None
        self._signed: dict[int, set[int]] | None = None

    def staff(self, *parts: str) -> tuple[User, ...]:
        """Users playing one of ``parts`` (secretariat_head | secretariat | authority_leader)."""
        if self._staff is None:
            by_part: dict[str, list[User]] = {}
            for row in db.session.scalars(select(CampaignStaff).where(
                    CampaignStaff.campaign_id == self.campaign.id)):
                by_part.setdefault(row.part, []).append(row.user)
            self._staff = {part: _unique(users) for part, users in by_part.items()}
        return _unique(u for part in parts for u in self._staff.get(part, ()))

    def commune_users(self, case: Case, role: Role) -> tuple[User, ...]:
        """Users of the case's commune holding ``role`` (its officers or its chair)."""
        if self._commune is None:
            communes = (select(Case.commune_id).where(Case.campaign_id == self.campaign.id)
                        if self.commune_ids is None else self.commune_ids)
            self._commune = {}
            if self.plain:
                found = ((Person(*values), held) for *values, held in db.session.execute(
                    select(User.id, User.email, User.name, User.locale, User.active, User.commune_id, UserRole.role)
                    .join(UserRole, UserRole.user_id == User.id).where(User.commune_id.in_(communes))))
            else:
                # the role comes with the join: each user's role rows are not loaded too (selectin by default)
                found = db.session.execute(
                    select(User, UserRole.role).join(UserRole, UserRole.user_id == User.id)
                    .where(User.commune_id.in_(communes)).options(lazyload(User.role_rows)))
            for user, held in found:
                self._commune.setdefault((user.commune_id, held), []).append(user)
        return _unique(self._commune.get((case.commune_id, role.value), ()))

    def council_not_signed(self, case: Case | None) -> tuple[User, ...]:
        """Council members who have not signed the pending sign-off; the chair when none is pending."""
        signed = self._pending_signatures(case) if case is not None else None
        seats = self.campaign.council
        if signed is None:
            return _unique(seat.user for seat in seats if seat.is_chair)
        return _unique(seat.user for seat in seats if seat.user_id not in signed)

    def _pending_signatures(self, case: Case) -> set[int] | None:
        if self._signed is None:
            # every pending sign-off of the campaign with who has signed it, in two queries
            pending = dict(db.session.execute(select(SignOff.id, SignOff.case_id).join(
                Case, Case.id == SignOff.case_id).where(Case.campaign_id == self.campaign.id,
                                                        SignOff.status == "pending")).all())
            self._signed = {case_id: set() for case_id in pending.values()}
            if pending:
                for sign_off_id, user_id in db.session.execute(select(
                        Signature.sign_off_id, Signature.user_id).where(Signature.sign_off_id.in_(pending))):
                    self._signed[pending[sign_off_id]].add(user_id)
        return self._signed.get(case.id)

    def stage_actors(self, case: Case, stage: str) -> tuple[User, ...]:
        """Who a stage's deadline binds (plan-format "Meaning"): they get reminders and overdue notices."""
        if stage == Stage.self_assessment:
            return self.commune_users(case, Role.commune_officer)
        if stage == Stage.appraisal:
            return self.staff("secretariat", "secretariat_head")
        if stage == Stage.survey:
            # survey data is entered by the secretariat's members; the head only if there are none
            return self.staff("secretariat") or self.staff("secretariat_head")
        if stage == Stage.council_meeting:
            return self.council_not_signed(case)
        if stage == Stage.publication:
            return self.staff("authority_leader")
        if stage == "remediation":  # a remediation item's due date (workflow.remediation) binds the commune
            return self.commune_users(case, Role.commune_officer)
        return ()

    def escalation_recipients(self, case: Case, roles: tuple[str, ...]) -> tuple[User, ...]:
        """The users an escalation level names: commune_chair, secretariat_head, authority_leader."""
        users: list[User] = []
        for role in roles:
            if role == "commune_chair":
                users.extend(self.commune_users(case, Role.commune_chair))
            elif role in ("secretariat_head", "authority_leader", "secretariat"):
                users.extend(self.staff(role))
        return _unique(users)

    def recipients(self, case: Case, stage: str, moment: Moment) -> tuple[User, ...]:
        """Reminders and overdue notices go to the stage's actors; escalations to the roles they name."""
        if moment.kind == "escalation":
            return self.escalation_recipients(case, moment.escalation.to)
        return self.stage_actors(case, stage)


# --- the schedule -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Notice:
    """One notice of one deadline: when it goes out, what it is and to whom."""

    case_id: int
    commune_code: str
    commune_name: str
    stage: str
    deadline_id: int | None  # None for a later stage's deadline that is not open yet
    deadline_kind: str  # stage | revision
    round: int
    plan_due: dt.date
    due: dt.date
    explanation: str
    kind: str
    level: int
    day: dt.date
    at: dt.datetime
    recipients: tuple[User, ...]

    def as_json(self) -> dict:
        return {"date": self.day.isoformat(), "due": self.due.isoformat(), "commune_code": self.commune_code,
                "stage": self.stage, "kind": self.kind, "level": self.level,
                "recipients": [u.email for u in self.recipients],
                # planned: a stage the case has not reached; sent only if it is in that stage by then
                "planned": self.deadline_id is None}


class Planner:
    """A campaign's policy, calendar and time zone, with each due's notices computed once."""

    def __init__(self, campaign: Campaign):
        self.policy, self.cal, self.tz = policy_of(campaign), calendar_of(campaign), zone_of(campaign)
        self._moments: dict[dt.date, list[Moment]] = {}
        self._rolled: dict[dt.date, RolledDate] = {}
        self._between: dict[tuple[dt.date, dt.date], int] = {}

    def moments(self, due: dt.date) -> list[Moment]:
        if due not in self._moments:
            self._moments[due] = moments(self.policy, self.cal, due, self.tz)
        return self._moments[due]

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """The calendar's count, kept: a sweep asks it for every deadline, of a few due days."""
        key = (start, end)
        if key not in self._between:
            self._between[key] = self.cal.working_days_between(start, end)
        return self._between[key]

    def roll_forward(self, plan_due: dt.date) -> RolledDate:
        if plan_due not in self._rolled:
            self._rolled[plan_due] = self.cal.roll_forward(plan_due)
        return self._rolled[plan_due]


def notices_for(case: Case, *, stage: str, deadline: Deadline | None, plan_due: dt.date, planner: Planner,
                people: Directory) -> list[Notice]:
    """Every notice of one deadline (an open row, or a later stage's plan due when ``deadline`` is None)."""
    if deadline is not None:
        due, explanation = deadline.due, deadline.explanation
        deadline_kind, round_ = deadline.kind, deadline.round
    else:
        rolled = planner.roll_forward(plan_due)
        due, explanation, deadline_kind, round_ = rolled.date, rolled.explanation, "stage", 0
    commune: Commune = case.commune
    return [
        Notice(case.id, commune.code, commune.name, stage, deadline.id if deadline else None, deadline_kind,
               round_, plan_due, due, explanation, m.kind, m.level, m.day, m.at,
               people.recipients(case, stage, m))
        for m in planner.moments(due)
    ]


def schedule(campaign: Campaign, *, now: dt.datetime, progress=None) -> list[Notice]:
    """Every notice the campaign will send after ``now`` if nothing is completed early.

    Open deadlines count as they are; stages a case has not reached yet are planned from the
    campaign's stage dues; completed stages send nothing. ``progress`` wraps the cases for display.
    """
    planner, people = Planner(campaign), Directory(campaign)
    cases = db.session.scalars(select(Case).join(Commune).where(Case.campaign_id == campaign.id)
                               .order_by(Commune.code)).all()
    open_rows: dict[int, list[Deadline]] = {}
    for row in db.session.scalars(select(Deadline).join(Case).where(
            Case.campaign_id == campaign.id, Deadline.completed_at.is_(None))):
        open_rows.setdefault(row.case_id, []).append(row)
    out: list[Notice] = []
    with (progress(cases) if progress and cases else nullcontext(cases)) as items:
        for case in items:
            out.extend(_case_notices(case, open_rows.get(case.id, []), campaign, planner, people))
    future = [n for n in out if n.at > now]
    # deadlines outside the stage chart (remediation items) sort after the stages
    return sorted(future, key=lambda n: (n.at, n.commune_code, DEADLINE_STAGES.index(n.stage)
                                         if n.stage in DEADLINE_STAGES else len(DEADLINE_STAGES),
                                         KIND_ORDER[n.kind], n.level))


def case_schedule(case: Case, *, now: dt.datetime) -> list[Notice]:
    """What this case's open deadlines will still send after ``now``, soonest first (the case page)."""
    campaign = case.campaign
    planner, people = Planner(campaign), Directory(campaign, commune_ids=(case.commune_id,))
    rows = db.session.scalars(select(Deadline).where(Deadline.case_id == case.id,
                                                     Deadline.completed_at.is_(None))).all()
    out = [n for row in rows for n in notices_for(case, stage=row.stage, deadline=row, plan_due=row.plan_due,
                                                  planner=planner, people=people) if n.at > now]
    return sorted(out, key=lambda n: (n.at, n.kind, n.level))


def _case_notices(case: Case, rows: list[Deadline], campaign: Campaign, planner: Planner,
                  people: Directory) -> list[Notice]:
    """A case's notices: its open deadlines, then the stages it has not reached yet (planned)."""
    out: list[Notice] = []
    for row in rows:
        out.extend(notices_for(case, stage=row.stage, deadline=row, plan_due=row.plan_due,
                               planner=planner, people=people))
    current = case.stage
    if current == Stage.planning:
        later = DEADLINE_STAGES
    elif current in DEADLINE_STAGES:
        later = DEADLINE_STAGES[DEADLINE_STAGES.index(current) + 1:]
    else:
        later = ()
    for stage in later:
        due = campaign.due_for(stage)
        if due is not None:
            out.extend(notices_for(case, stage=stage, deadline=None, plan_due=due.due,
                                   planner=planner, people=people))
    return out
