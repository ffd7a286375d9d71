"""The e-mail outbox (written in the transaction that decides a message) and scheduler bookkeeping."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime, db, utcnow


class OutboxMessage(db.Model):
    """One e-mail to one recipient. ``key`` makes the same reminder impossible to enqueue twice,
    e.g. ``reminder:case=12:stage=self_assessment:round=0:level=2:to=a@x.vn``.

    status: queued -> sent | failed (after the last attempt) ; skipped (moment passed too long ago).
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_queued", "next_attempt_at",
              postgresql_where=text("status = 'queued'"), sqlite_where=text("status = 'queued'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # reminder | overdue | escalation | digest | notice
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadlines.id"))
    stage: Mapped[str | None] = mapped_column(String(30))
    level: Mapped[int] = mapped_column(Integer, default=0)
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recipient: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(5), default="vi")
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    ics: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    scheduled_for: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the moment it was meant to go out
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    smtp_response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SchedulerState(db.Model):
    """Per job: the last completed run (for /healthz) and a lease so one process runs it at a time."""

    __tablename__ = "scheduler_state"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_as_of: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
