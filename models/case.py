"""A commune's annual case and its scores."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from states import Stage

from .base import Points, UTCDateTime, db, utcnow
from .campaign import Campaign
from .commune import Commune
from .criteria import CriteriaItem


class Case(db.Model):
    """One per commune × campaign. ``version`` increases on every change (optimistic locking)."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("campaign_id", "commune_id"),
        Index("ix_cases_campaign_stage", "campaign_id", "stage"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"))
    stage: Mapped[str] = mapped_column(String(30), default=Stage.planning.value)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    revision_due: Mapped[dt.date | None] = mapped_column(Date)
    revision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    commune: Mapped[Commune] = relationship()
    scores: Mapped[list[Score]] = relationship(back_populates="case", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def stage_enum(self) -> Stage:
        return Stage(self.stage)


class Score(db.Model):
    """Scores of one sub-criterion in one case; created lazily on first edit."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("case_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("criteria_items.id"))
    self_score: Mapped[Decimal | None] = mapped_column(Points)
    appraised_score: Mapped[Decimal | None] = mapped_column(Points)
    survey_score: Mapped[Decimal | None] = mapped_column(Points)
    not_applicable: Mapped[bool] = mapped_column(Boolean, default=False)
    explanation: Mapped[str | None] = mapped_column(Text)
    appraiser_note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    case: Mapped[Case] = relationship(back_populates="scores")
    item: Mapped[CriteriaItem] = relationship()

    def final(self, method: str) -> Decimal | None:
        """The score that counts: appraised for self-assessed items, survey points for survey items."""
        if self.not_applicable:
            return None
        return self.survey_score if method == "survey" else self.appraised_score
