"""Read-only views of campaigns and cases for pages and reports, scoped by ``access.can_view_case``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from models import AuditEvent, Campaign, Case, Commune, CouncilSeat, Deadline, User, db
from states import COMMUNE_SCOPED_ROLES, STAGE_TITLES_VI, Stage

from . import access, deadlines, scoring
from .clock import local_date


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
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view_case(user, case):
        return None
    return case


def deadline_view(case: Case, now: dt.datetime) -> DeadlineView | None:
    """The open deadline binding the case, with working days left (or late) as of ``now``."""
    row: Deadline | None = deadlines.current_deadline(case)
    if row is None:
        return None
    cal = deadlines.calendar_of(case.campaign)
    rolled = cal.roll_forward(row.plan_due)
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
