"""Criteria sets: a versioned tree of areas, criteria and sub-criteria."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Points, UTCDateTime, db, utcnow


class CriteriaSet(db.Model):
    """One version of a criteria set; loading a changed file with the same key adds a version."""

    __tablename__ = "criteria_sets"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)
    title_vi: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    issuer: Mapped[str | None] = mapped_column(String(300))
    year: Mapped[int] = mapped_column(Integer)
    total_points: Mapped[Decimal] = mapped_column(Points)
    content_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    items: Mapped[list[CriteriaItem]] = relationship(
        back_populates="criteria_set", order_by="CriteriaItem.position", cascade="all, delete-orphan"
    )

    def leaves(self) -> list[CriteriaItem]:
        return [i for i in self.items if i.is_leaf]

    @property
    def label(self) -> str:
        return f"{self.key} v{self.version}"


class CriteriaItem(db.Model):
    """A node of the tree. Leaves (sub-criteria) carry ``method`` and ``evidence_required``."""

    __tablename__ = "criteria_items"
    __table_args__ = (UniqueConstraint("criteria_set_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    criteria_set_id: Mapped[int] = mapped_column(ForeignKey("criteria_sets.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("criteria_items.id"))
    code: Mapped[str] = mapped_column(String(30))
    position: Mapped[int] = mapped_column(Integer)  # natural order of codes within the set
    depth: Mapped[int] = mapped_column(Integer)  # 1 = area
    title_vi: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    max_points: Mapped[Decimal] = mapped_column(Points)
    method: Mapped[str | None] = mapped_column(String(10))  # self | survey; None on inner nodes
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=False)
    not_applicable_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    rule_vi: Mapped[str | None] = mapped_column(Text)
    rule_en: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(20))

    criteria_set: Mapped[CriteriaSet] = relationship(back_populates="items")

    @property
    def is_leaf(self) -> bool:
        return self.method is not None

    @property
    def area_code(self) -> str:
        return self.code.split(".")[0]
