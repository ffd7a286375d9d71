"""A campaign: one authority's evaluation of its communes for one year, built from a plan file."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import UTCDateTime, db, utcnow
from .commune import Authority
from .criteria import CriteriaSet
from .user import User


class Campaign(db.Model):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    title: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(50), default="Asia/Ho_Chi_Minh")
    criteria_set_id: Mapped[int] = mapped_column(ForeignKey("criteria_sets.id"))
    # calendar: {"country": "VN", "extra_holidays": [...], "extra_working_days": [...]}
    calendar: Mapped[dict] = mapped_column(JSON, default=dict)
    quorum: Mapped[str] = mapped_column(String(20), default="1/2")
    chair_required: Mapped[bool] = mapped_column(Boolean, default=False)
    sign_off: Mapped[list] = mapped_column(JSON, default=list)  # transition names under sign-off
    reminders: Mapped[dict] = mapped_column(JSON, default=dict)
    survey: Mapped[dict | None] = mapped_column(JSON)
    classification: Mapped[list] = mapped_column(JSON, default=list)
    secretariat_name: Mapped[str | None] = mapped_column(String(300))
    plan_sha256: Mapped[str | None] = mapped_column(String(64))
    previous_campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    authority: Mapped[Authority] = relationship()
    criteria_set: Mapped[CriteriaSet] = relationship()
    stage_dues: Mapped[list[CampaignStageDue]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan"
    )
    council: Mapped[list[CouncilSeat]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan"
    )
    staff: Mapped[list[CampaignStaff]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan"
    )

    def due_for(self, stage: str) -> CampaignStageDue | None:
        return next((d for d in self.stage_dues if d.stage == stage), None)

    def needs_sign_off(self, transition: str) -> bool:
        return transition in (self.sign_off or [])


class CampaignStageDue(db.Model):
    """The plan's due date for one stage, as written (``raw``) and as a date (last allowed day)."""

    __tablename__ = "campaign_stage_dues"
    __table_args__ = (UniqueConstraint("campaign_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(30))
    raw: Mapped[str] = mapped_column(String(20))
    due: Mapped[dt.date] = mapped_column(Date)

    campaign: Mapped[Campaign] = relationship(back_populates="stage_dues")


class CouncilSeat(db.Model):
    """A member of the campaign's evaluation council; the chair counts as a member."""

    __tablename__ = "council_seats"
    __table_args__ = (UniqueConstraint("campaign_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    is_chair: Mapped[bool] = mapped_column(Boolean, default=False)

    campaign: Mapped[Campaign] = relationship(back_populates="council")
    user: Mapped[User] = relationship()


class CampaignStaff(db.Model):
    """Who plays a campaign-level part: secretariat head and members, authority leader."""

    __tablename__ = "campaign_staff"
    __table_args__ = (UniqueConstraint("campaign_id", "user_id", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    part: Mapped[str] = mapped_column(String(30))  # secretariat_head | secretariat | authority_leader

    campaign: Mapped[Campaign] = relationship(back_populates="staff")
    user: Mapped[User] = relationship()
