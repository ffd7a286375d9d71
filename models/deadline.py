"""Deadlines per case × stage, the indexed table the reminder sweep reads."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import UTCDateTime, db, utcnow


class Deadline(db.Model):
    """``due`` is the effective last day after art. 148 roll-forward; ``plan_due`` as the plan wrote it.

    ``kind`` is ``stage`` for the plan's stage deadline or ``revision`` after a return for revision.
    Open deadlines (``completed_at`` null) are what reminders chase.
    """

    __tablename__ = "deadlines"
    __table_args__ = (
        UniqueConstraint("case_id", "stage", "kind", "round"),
        Index("ix_deadlines_open_due", "due", postgresql_where=text("completed_at IS NULL"),
              sqlite_where=text("completed_at IS NULL")),
        # the case board: a stage's open deadlines in due order (migration 0005)
        Index("ix_deadlines_open_stage_due", "stage", "due", "case_id", "kind", "round",
              postgresql_where=text("completed_at IS NULL"), sqlite_where=text("completed_at IS NULL")),
        # the sweep's only query when nothing is due: open rows whose next notice has come
        Index("ix_deadlines_next_notice_at", "next_notice_at", postgresql_where=text("completed_at IS NULL"),
              sqlite_where=text("completed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(20), default="stage")
    round: Mapped[int] = mapped_column(default=0)  # revision round number; 0 for the stage deadline
    plan_due: Mapped[dt.date] = mapped_column(Date)
    due: Mapped[dt.date] = mapped_column(Date)
    explanation: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # moment of the next reminder/overdue/escalation not yet handled; null = nothing more to send
    next_notice_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    case = relationship("Case")
