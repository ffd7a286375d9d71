"""The secretariat's daily digest: one e-mail per secretariat user, overdue and due-soon cases."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from models import Campaign, CampaignStaff, Case, Deadline, User, db
from workflow import cases, reminders
from workflow.clock import LOCAL_TZ

from .outbox import insert_rendered
from .render import render_digest

DUE_SOON_WORKING_DAYS = 5
SECRETARIAT_PARTS = ("secretariat", "secretariat_head")


@dataclass
class DigestReport:
    day: dt.date
    queued: int = 0
    already_queued: int = 0
    nothing_to_say: int = 0
    recipients: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (f"digest for {self.day:%d/%m/%Y}: {self.queued} queued, {self.already_queued} already queued, "
                f"{self.nothing_to_say} with nothing overdue or due soon")


def digest_key(day: dt.date, email: str) -> str:
    return f"digest:{day.isoformat()}:{email}"


def _rows_for(campaign: Campaign, now: dt.datetime) -> tuple[list[dict], list[dict]]:
    """Overdue and due-soon open deadlines of one campaign, as facts for the template."""
    cal, zone = reminders.calendar_of(campaign), reminders.zone_of(campaign)
    today = now.astimezone(zone).date()
    overdue, due_soon = [], []
    rows = db.session.execute(
        select(Deadline, Case).join(Case, Case.id == Deadline.case_id)
        .where(Case.campaign_id == campaign.id, Deadline.completed_at.is_(None))
        .order_by(Deadline.due, Case.id)).all()
    for deadline, case in rows:
        left = cal.working_days_between(today, deadline.due)
        if deadline.due >= today and left > DUE_SOON_WORKING_DAYS:
            continue
        transition = reminders.COMPLETING_TRANSITION.get(deadline.stage)
        missing = len(cases.readiness(case, transition)) if transition and case.stage == deadline.stage else 0
        facts = {"case_id": case.id, "commune_name": case.commune.name, "stage": deadline.stage,
                 "due": deadline.due, "working_days_left": left, "missing_count": missing,
                 "campaign_key": campaign.key}
        (overdue if deadline.due < today else due_soon).append(facts)
    return overdue, due_soon


def queue_digests(*, now: dt.datetime, campaign: Campaign | None = None) -> DigestReport:
    """Queue today's digest for every secretariat user (once per user and day); the caller commits."""
    # the digest's day is the authority's local day (07:30 in Hà Nội is still the previous day in UTC)
    zone = reminders.zone_of(campaign) if campaign is not None else LOCAL_TZ
    day = now.astimezone(zone).date()
    report = DigestReport(day=day)
    stmt = select(CampaignStaff).where(CampaignStaff.part.in_(SECRETARIAT_PARTS))
    if campaign is not None:
        stmt = stmt.where(CampaignStaff.campaign_id == campaign.id)
    by_user: dict[int, tuple[User, set[int]]] = {}
    for seat in db.session.scalars(stmt):
        by_user.setdefault(seat.user_id, (seat.user, set()))[1].add(seat.campaign_id)
    per_campaign: dict[int, tuple[list[dict], list[dict]]] = {}
    base_url = current_app.config.get("PUBLIC_BASE_URL", "")
    for user, campaign_ids in sorted(by_user.values(), key=lambda uc: uc[0].email):
        if not user.is_active:
            continue
        overdue, due_soon = [], []
        for cid in sorted(campaign_ids):
            if cid not in per_campaign:
                per_campaign[cid] = _rows_for(db.session.get(Campaign, cid), now)
            overdue.extend(dict(r) for r in per_campaign[cid][0])
            due_soon.extend(dict(r) for r in per_campaign[cid][1])
        if not overdue and not due_soon:
            report.nothing_to_say += 1
            continue
        rendered = render_digest(locale=user.locale, recipient_name=user.name, day=day, overdue=overdue,
                                 due_soon=due_soon, base_url=base_url)
        if insert_rendered(key=digest_key(day, user.email), kind="digest", rendered=rendered, recipient=user,
                           scheduled_for=now, now=now):
            report.queued += 1
            report.recipients.append(user.email)
        else:
            report.already_queued += 1
    return report
