"""Commune lineage: which communes were merged into which (the 2025 reform), and when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import UTCDateTime, db, utcnow
from .commune import Commune


class CommuneMerger(db.Model):
    """``predecessor`` was merged into ``commune`` on ``merged_on``; results compare across the merger."""

    __tablename__ = "commune_mergers"
    __table_args__ = (UniqueConstraint("commune_id", "predecessor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"), index=True)
    predecessor_id: Mapped[int] = mapped_column(ForeignKey("communes.id"))
    merged_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    commune: Mapped[Commune] = relationship(foreign_keys=[commune_id])
    predecessor: Mapped[Commune] = relationship(foreign_keys=[predecessor_id])
