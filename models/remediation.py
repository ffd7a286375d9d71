"""Remediation plans (kế hoạch khắc phục): one per case after publication, one item per lost sub-criterion."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Points, UTCDateTime, db, utcnow
from .case import Case


class RemediationPlan(db.Model):
    """A commune's plan for one case. ``status``: draft | submitted | returned; ``version`` locks edits."""

    __tablename__ = "remediation_plans"
    __table_args__ = (UniqueConstraint("case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    return_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship()
    items: Mapped[list[RemediationItem]] = relationship(
        back_populates="plan", order_by="RemediationItem.position", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class RemediationItem(db.Model):
    """One lost sub-criterion: the figures and cause as appraised, then who does what by when.

    ``status``: open | done | carried (moved on into next year's plan, which chases it from then on) |
    cleared (a correction gave the sub-criterion full points after the commune had started on it).
    ``carried_from_id`` points at last year's item this one continues.
    """

    __tablename__ = "remediation_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("remediation_plans.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(30))
    title_vi: Mapped[str] = mapped_column(Text)
    max_points: Mapped[Decimal] = mapped_column(Points)
    obtained: Mapped[Decimal] = mapped_column(Points)
    lost: Mapped[Decimal] = mapped_column(Points)
    cause: Mapped[str | None] = mapped_column(Text)
    responsible: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str | None] = mapped_column(Text)
    due: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    carried_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("remediation_items.id", ondelete="SET NULL"), index=True)

    plan: Mapped[RemediationPlan] = relationship(back_populates="items")
    carried_from: Mapped[RemediationItem | None] = relationship(remote_side=[id])
