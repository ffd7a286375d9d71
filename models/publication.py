"""Published results: frozen, hashed, append-only snapshots of a campaign's results, one per version."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import UTCDateTime, db, utcnow
from .campaign import Campaign
from .user import User


class ResultSnapshot(db.Model):
    """Version ``version`` of a campaign's published results.

    ``payload`` is the canonical JSON text the ``sha256`` is computed over; ``diff`` is the computed
    difference from the version before (None for version 1). Rows are never updated or deleted.
    """

    __tablename__ = "result_snapshots"
    __table_args__ = (UniqueConstraint("campaign_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    version: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(20))  # campaign | correction
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))  # the corrected case
    payload: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    diff: Mapped[dict | None] = mapped_column(JSON)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    published_by: Mapped[User | None] = relationship()


@event.listens_for(ResultSnapshot, "before_update")
@event.listens_for(ResultSnapshot, "before_delete")
def _append_only(mapper, connection, target):
    # a published version is history: a correction is a new version, never an edit
    raise ValueError("published result snapshots are append-only")
