"""Read-only views of campaigns and cases for pages and reports, scoped by ``access.can_view_case``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload, selectinload

from models import (
    MAX_ID,
    AuditEvent,
    Campaign,
    CampaignStaff,
    Case,
    Commune,
    CouncilSeat,
    CriteriaItem,
    Deadline,
    Evidence,
    OutboxMessage,
    Score,
    SignOff,
    User,
    db,
)
from states import COMMUNE_SCOPED_ROLES, STAGE_ORDER, STAGE_TITLES_VI, TRANSITIONS, Stage

from . import access, audit, cases, deadlines, reminders, scoring, signoff
from .clock import local_date
from .errors import Blocker
from .scoring import ZERO


@dataclass(frozen=True)
class DeadlineView:
    """The deadline that binds a case now, as of a local date."""

    due: dt.date
    plan_due: dt.date
    kind: str
    explanation: str
    explanation_vi: str
    working_days_left: int  # 0 on the due day; negative once late
    today: dt.date

    @property
    def late(self) -> bool:
        return self.today > self.due

    @property
    def working_days_late(self) -> int:
        return -self.working_days_left if self.late else 0


@dataclass(frozen=True)
class CaseRow:
    case_id: int
    commune_code: str
    commune_name: str
    stage: str
    stage_vi: str
    version: int
    deadline: DeadlineView | None


def user_by_email(email: str) -> User | None:
    """The user with this e-mail (case-insensitive, surrounding spaces ignored), or None."""
    return db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))


def campaigns_visible_to(user: User) -> list[Campaign]:
    """Campaigns in which ``user`` may see at least one case, newest first."""
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.key)).all()
    return [c for c in campaigns if _sees_any(user, c)]


def _sees_any(user: User, campaign: Campaign) -> bool:
    if user.roles & access.CAMPAIGN_WIDE_READERS:
        return True
    if user.roles & COMMUNE_SCOPED_ROLES and user.commune_id is not None:
        if db.session.scalar(select(Case.id).where(Case.campaign_id == campaign.id,
                                                   Case.commune_id == user.commune_id)):
            return True
    return db.session.scalar(select(CouncilSeat.id).where(
        CouncilSeat.campaign_id == campaign.id, CouncilSeat.user_id == user.id)) is not None


def cases_visible_to(user: User, campaign: Campaign) -> list[Case]:
    """The campaign's cases ``user`` may see, by commune code."""
    stmt = (select(Case).join(Commune, Commune.id == Case.commune_id)
            .where(Case.campaign_id == campaign.id).order_by(Commune.code))
    if not user.roles & access.CAMPAIGN_WIDE_READERS and not access.holds_seat(user, campaign.id):
        # narrow in SQL for commune users; can_view_case below stays the one rule
        stmt = stmt.where(Case.commune_id == (user.commune_id or -1))
    return [c for c in db.session.scalars(stmt) if access.can_view_case(user, c)]


def visible_case(user: User, case_id: int) -> Case | None:
    """The case if it exists and ``user`` may see it; None otherwise (the page answers 404 either way)."""
    if not 0 < case_id <= MAX_ID:  # a URL's integer can exceed the database's (a 500 otherwise)
        return None
    # with its campaign in the same SELECT: every page and action of a case reads the plan
    case = db.session.execute(_WITH_CAMPAIGN, {"id": case_id}).scalar_one_or_none()
    if case is None or not access.can_view_case(user, case):
        return None
    return case


# built once: ``session.get`` with options builds and keys a new SELECT on every call
_WITH_CAMPAIGN = select(Case).options(joinedload(Case.campaign)).where(Case.id == bindparam("id"))


def deadline_view(case: Case, now: dt.datetime) -> DeadlineView | None:
    """The open deadline binding the case, with working days left (or late) as of ``now``."""
    row: Deadline | None = deadlines.current_deadline(case)
    if row is None:
        return None
    cal = deadlines.calendar_of(case.campaign)
    rolled = deadlines.explain(row, cal)
    today = local_date(now, case.campaign.timezone or "Asia/Ho_Chi_Minh")
    return DeadlineView(due=row.due, plan_due=row.plan_due, kind=row.kind, explanation=rolled.explanation,
                        explanation_vi=rolled.explanation_vi,
                        working_days_left=cal.working_days_between(today, row.due), today=today)


def case_rows(user: User, campaign: Campaign, now: dt.datetime) -> list[CaseRow]:
    """One row per visible case: commune, stage, current deadline, version."""
    return [
        CaseRow(case_id=c.id, commune_code=c.commune.code, commune_name=c.commune.name, stage=c.stage,
                stage_vi=STAGE_TITLES_VI[Stage(c.stage)], version=c.version, deadline=deadline_view(c, now))
        for c in cases_visible_to(user, campaign)
    ]


@dataclass(frozen=True)
class AreaLine:
    code: str
    title_vi: str
    max_points: Decimal
    self_total: Decimal
    final_total: Decimal


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    stage_vi: str
    deadline: DeadlineView | None
    total: Decimal
    self_total: Decimal
    own_max: Decimal
    percentage: Decimal
    areas: list[AreaLine]
    timeline: list[AuditEvent]


def case_detail(case: Case, now: dt.datetime) -> CaseDetail:
    """Everything the read-only case page shows: stage, deadline, totals per area, audit timeline."""
    totals = scoring.case_totals(case)
    areas = [AreaLine(code, totals.nodes[code].title_vi, totals.nodes[code].max_points,
                      totals.nodes[code].self_total, totals.nodes[code].final_total) for code in totals.areas]
    timeline = list(db.session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id)
                                       .order_by(AuditEvent.seq)))
    return CaseDetail(case=case, stage_vi=STAGE_TITLES_VI[case.stage_enum], deadline=deadline_view(case, now),
                      total=totals.total, self_total=totals.self_total, own_max=totals.own_max,
                      percentage=totals.percentage, areas=areas, timeline=timeline)


# --- the full case page ------------------------------------------------------------------------------

TIMELINE_CAP = 50  # newest events shown by default; the page offers "show all"


@dataclass(frozen=True)
class StageStep:
    stage: str
    title_vi: str
    state: str  # done | current | todo


@dataclass(frozen=True)
class ActionView:
    """A transition the user holds a role for, with what blocks it now (empty: it may be fired)."""

    name: str
    blockers: list[Blocker]
    reason_required: bool
    sets_revision_deadline: bool
    needs_sign_off: bool

    @property
    def enabled(self) -> bool:
        return not self.blockers

    @property
    def item_blockers(self) -> list[Blocker]:
        return [b for b in self.blockers if b.code]


class ScoreLine(NamedTuple):
    """One node of the criteria tree with its scores (leaves) or subtotals (areas and criteria).

    The page's rows (this, ``EvidenceLine``, ``TimelineEntry``) are named tuples: hundreds are made per page,
    and a tuple is made several times faster than a frozen dataclass."""

    code: str
    depth: int
    title_vi: str
    is_leaf: bool
    method: str | None
    max_points: Decimal
    own_max: Decimal
    self_score: Decimal | None
    appraised: Decimal | None
    survey: Decimal | None
    final: Decimal | None
    difference: Decimal | None  # appraised - self (leaves: when both exist; nodes: sum over leaves)
    not_applicable: bool
    evidence_count: int


class EvidenceLine(NamedTuple):
    id: int
    item_code: str
    file_name: str
    size: int
    media_type: str
    locator: str | None
    uploader: str
    uploaded_at: dt.datetime


@dataclass(frozen=True)
class SignatureLine:
    name: str
    decision: str
    comment: str | None
    signed_at: dt.datetime
    is_chair: bool


@dataclass(frozen=True)
class SignOffView:
    id: int
    transition: str
    status: str
    requested_by: str
    requested_at: dt.datetime
    closed_at: dt.datetime | None
    outcome_reason: str | None
    signatures: list[SignatureLine]
    progress: signoff.Progress
    waiting_for: list[str]  # members who have not signed (pending sign-offs)


class TimelineEntry(NamedTuple):
    seq: int
    occurred_at: dt.datetime
    action: str
    actor: str  # the actor's name, or "system"
    actor_email: str
    subject: str | None
    reason: str | None
    changes: list[tuple[str, object, object]]  # (field, before, after) for score edits


@dataclass(frozen=True)
class CasePage:
    case: Case
    stage_vi: str
    stepper: list[StageStep]
    deadline: DeadlineView | None
    actions: list[ActionView]
    forms: frozenset[str]  # assessment forms this user may use now: self_assessment, appraisal
    lines: list[ScoreLine]
    total: Decimal
    self_total: Decimal
    own_max: Decimal
    percentage: Decimal
    evidence: dict[str, list[EvidenceLine]]  # by sub-criterion code, in tree order
    evidence_count: int
    sign_offs: list[SignOffView]  # newest first
    timeline: list[TimelineEntry]  # newest first
    timeline_total: int
    upcoming: list  # reminders.Notice: what the open deadlines will still send, soonest first
    messages: list[OutboxMessage]  # e-mails about this case (reminders, notices), newest first


def stage_stepper(case: Case) -> list[StageStep]:
    """All six stages in order: done, current, or to come."""
    current = STAGE_ORDER.index(case.stage_enum)
    return [StageStep(s.value, STAGE_TITLES_VI[s],
                      "done" if i < current else "current" if i == current else "todo")
            for i, s in enumerate(STAGE_ORDER)]


def assessment_forms(case: Case, user: User) -> frozenset[str]:
    """Which assessment forms ``user`` may work in now: the commune's own self-assessment while
    the case is in self-assessment, the secretariat's appraisal while it is in appraisal."""
    if not user.is_active:
        return frozenset()
    forms = set()
    stage = case.stage_enum
    if stage == Stage.self_assessment and user.roles & COMMUNE_SCOPED_ROLES and access.in_commune_scope(user, case):
        forms.add("self_assessment")
    if stage == Stage.appraisal and user.roles & access.SECRETARIAT_WRITERS:
        forms.add("appraisal")
    return frozenset(forms)


def case_actions_for(case: Case, user: User) -> list[ActionView]:
    """The transitions ``user`` holds a role for from the case's stage, each with its blockers."""
    return [ActionView(name, blockers, TRANSITIONS[name].reason_required,
                       TRANSITIONS[name].sets_revision_deadline, case.campaign.needs_sign_off(name))
            for name, blockers in cases.available_actions(case, user)]


class _Item(NamedTuple):
    """The columns of a criteria item the case page reads; ``scoring.totals_of`` takes it as it takes the
    model (reading rows costs a fraction of loading objects)."""

    id: int
    parent_id: int | None
    code: str
    depth: int
    title_vi: str
    max_points: Decimal
    method: str | None
    position: int

    is_leaf = CriteriaItem.is_leaf


class _Scores(NamedTuple):
    """The columns of a score row ``scoring.totals_of`` reads, with the model's own rule for the final score."""

    self_score: Decimal | None
    appraised_score: Decimal | None
    survey_score: Decimal | None
    not_applicable: bool

    final = Score.final


_ITEMS = select(CriteriaItem.id, CriteriaItem.parent_id, CriteriaItem.code, CriteriaItem.depth,
                CriteriaItem.title_vi, CriteriaItem.max_points, CriteriaItem.method, CriteriaItem.position)
_SCORES = select(Score.item_id, Score.self_score, Score.appraised_score, Score.survey_score, Score.not_applicable)


def score_lines(case: Case) -> tuple[list[ScoreLine], scoring.CaseTotals, list[_Item]]:
    """Every node of the criteria tree in order, leaves with their scores, nodes with subtotals.

    Totals come from ``scoring.totals_of`` (the one place they are computed), fed with the same rows
    this function reads: the items and the scores are read once, as plain columns.
    """
    items = [_Item(*row) for row in db.session.execute(
        _ITEMS.where(CriteriaItem.criteria_set_id == case.campaign.criteria_set_id)
        .order_by(CriteriaItem.position))]
    scores = {row[0]: _Scores(*row[1:]) for row in db.session.execute(_SCORES.where(Score.case_id == case.id))}
    totals = scoring.totals_of(items, scores)
    evidence_counts = dict(db.session.execute(
        select(Evidence.item_id, func.count()).where(Evidence.case_id == case.id, Evidence.removed_at.is_(None))
        .group_by(Evidence.item_id)).all())
    parent_of = {i.id: i.parent_id for i in items}
    # per node: sums of [self, appraised, survey, difference], how many leaves had each, evidence files
    sums = {i.id: [ZERO, ZERO, ZERO, ZERO, 0, 0, 0, 0, 0] for i in items}
    leaf_values = {}
    for item in items:
        method = item.method
        if method is None:
            continue
        s = scores.get(item.id)
        self_score, appraised, survey, na = s if s is not None else (None, None, None, False)
        if method != "self":
            self_score = appraised = None
        diff = appraised - self_score if appraised is not None and self_score is not None and not na else None
        files = evidence_counts.get(item.id, 0)
        leaf_values[item.id] = (self_score, appraised, survey, diff, bool(na), files)
        values = (None, None, None, None) if na else (self_score, appraised, survey, diff)
        node = item.id
        while node is not None:
            bucket = sums[node]
            for k, value in enumerate(values):
                if value is not None:
                    bucket[k] += value
                    bucket[4 + k] += 1
            bucket[8] += files
            node = parent_of[node]
    lines = []
    for item in items:
        node = totals.nodes[item.code]
        if item.method is not None:
            self_score, appraised, survey, diff, na, files = leaf_values[item.id]
            final = None if na else (survey if item.method == "survey" else appraised)
            lines.append(ScoreLine(item.code, item.depth, item.title_vi, True, item.method, item.max_points,
                                   node.own_max, self_score, appraised, survey, final, diff, na, files))
        else:
            # a subtotal only where some item below has that score (no "0,00" before anyone scored)
            bucket = sums[item.id]
            lines.append(ScoreLine(
                item.code, item.depth, item.title_vi, False, None, item.max_points, node.own_max,
                node.self_total if bucket[4] else None, bucket[1] if bucket[5] else None,
                bucket[2] if bucket[6] else None, node.final_total, bucket[3] if bucket[7] else None, False,
                bucket[8]))
    return lines, totals, items


def evidence_lines(case: Case, items) -> dict[str, list[EvidenceLine]]:
    """The case's current evidence grouped by sub-criterion, in tree order (one query)."""
    code_of = {i.id: i.code for i in items}
    order = {i.id: i.position for i in items}
    rows = db.session.execute(
        select(Evidence.id, Evidence.item_id, Evidence.file_name, Evidence.size, Evidence.media_type,
               Evidence.locator, Evidence.uploaded_at, User.name, User.email)
        .outerjoin(User, User.id == Evidence.uploaded_by_id)
        .where(Evidence.case_id == case.id, Evidence.removed_at.is_(None))).all()
    rows.sort(key=lambda r: (order.get(r[1], 0), r[0]))
    grouped: dict[str, list[EvidenceLine]] = {}
    for ev_id, item_id, file_name, size, media_type, locator, uploaded_at, name, email in rows:
        code = code_of.get(item_id, "?")
        grouped.setdefault(code, []).append(EvidenceLine(
            ev_id, code, file_name, size, media_type, locator, name or email or "", uploaded_at))
    return grouped


def sign_off_views(case: Case) -> list[SignOffView]:
    """Every sign-off of the case (pending first, then newest first) with signatures and quorum progress."""
    rows = db.session.scalars(select(SignOff).where(SignOff.case_id == case.id)
                              .options(selectinload(SignOff.signatures))
                              .order_by(SignOff.requested_at.desc(), SignOff.id.desc())).all()
    if not rows:
        return []
    seats = {s.user_id: s for s in db.session.scalars(
        select(CouncilSeat).where(CouncilSeat.campaign_id == case.campaign_id))}
    wanted = set(seats) | {r.requested_by_id for r in rows if r.requested_by_id} | {
        s.user_id for r in rows for s in r.signatures}
    names = _names(wanted)
    views = []
    for r in rows:
        signed = {s.user_id for s in r.signatures}
        views.append(SignOffView(
            r.id, r.transition, r.status, names.get(r.requested_by_id, audit.SYSTEM), r.requested_at,
            r.closed_at, r.outcome_reason,
            [SignatureLine(names.get(s.user_id, "?"), s.decision, s.comment, s.signed_at,
                           bool(seats.get(s.user_id) and seats[s.user_id].is_chair)) for s in r.signatures],
            signoff.progress(r),
            sorted(names.get(uid, "?") for uid in seats if uid not in signed) if r.status == "pending" else []))
    views.sort(key=lambda v: v.status != "pending")
    return views


def _names(user_ids) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return {uid: name or email for uid, name, email in db.session.execute(
        select(User.id, User.name, User.email).where(User.id.in_(ids)))}


_SCORE_FIELDS = ("self_score", "appraised_score", "survey_score", "not_applicable")


def _as_points(value):
    """A score as the audit log stores it ("0.50") back as a Decimal; flags and None unchanged."""
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def timeline(case: Case, limit: int | None = TIMELINE_CAP) -> tuple[list[TimelineEntry], int]:
    """The case's audit events, newest first (at most ``limit``), and how many there are in all."""
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case.id))
    # the columns shown, with the actor's name (the hashes and ids are not read)
    stmt = (select(AuditEvent.seq, AuditEvent.occurred_at, AuditEvent.action, AuditEvent.actor,
                   AuditEvent.actor_id, AuditEvent.subject, AuditEvent.before, AuditEvent.after,
                   User.name, User.email)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .where(AuditEvent.case_id == case.id).order_by(AuditEvent.seq.desc()))
    if limit is not None:
        stmt = stmt.limit(limit)
    entries = []
    for seq, occurred_at, action, actor, actor_id, subject, before, after, name, email in db.session.execute(stmt):
        after, before = after or {}, before or {}
        reason = after.get("reason") or after.get("comment") or None
        changes = [(f, _as_points(before.get(f)), _as_points(after.get(f))) for f in _SCORE_FIELDS
                   if action == "score.changed" and (f in after or f in before)]
        who = (name or email) if actor_id is not None else actor
        entries.append(TimelineEntry(seq, occurred_at, action, who, actor, subject, reason, changes))
    return entries, total or 0


def case_page(case: Case, user: User, now: dt.datetime, *, history_limit: int | None = TIMELINE_CAP) -> CasePage:
    """Everything the case page shows to ``user`` as of ``now``, read with one query per kind of row."""
    lines, totals, items = score_lines(case)
    evidence = evidence_lines(case, items)
    entries, total_events = timeline(case, history_limit)
    return CasePage(
        case=case, stage_vi=STAGE_TITLES_VI[case.stage_enum], stepper=stage_stepper(case),
        deadline=deadline_view(case, now), actions=case_actions_for(case, user),
        forms=assessment_forms(case, user), lines=lines, total=totals.total, self_total=totals.self_total,
        own_max=totals.own_max, percentage=totals.percentage, evidence=evidence,
        evidence_count=sum(len(v) for v in evidence.values()), sign_offs=sign_off_views(case),
        timeline=entries, timeline_total=total_events,
        upcoming=upcoming(case, now)[:UPCOMING_CAP], messages=case_messages(case))


UPCOMING_CAP = 8
MESSAGES_CAP = 20


def upcoming(case: Case, now: dt.datetime) -> list[reminders.Notice]:
    """``reminders.case_schedule``, with the campaign's staff rows and their users read first in one
    statement: the schedule reads each row's user, which is then found in the session (one query per
    user otherwise). The rows are held until the schedule is built (the session keeps them weakly)."""
    staff = db.session.scalars(select(CampaignStaff).where(CampaignStaff.campaign_id == case.campaign_id)
                               .options(joinedload(CampaignStaff.user))).all()
    notices = reminders.case_schedule(case, now=now)
    del staff
    return notices


def case_messages(case: Case, limit: int = MESSAGES_CAP) -> list[OutboxMessage]:
    """The e-mails queued or sent about this case, newest first: proof of who was warned, and when."""
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id)
                                   .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)))
