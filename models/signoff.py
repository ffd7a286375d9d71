"""Council sign-off of a transition: a request and the members' signatures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import UTCDateTime, db, utcnow
from .user import User


class SignOff(db.Model):
    __tablename__ = "sign_offs"
    __table_args__ = (Index("ix_sign_offs_case_status", "case_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    transition: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|approved|rejected
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome_reason: Mapped[str | None] = mapped_column(Text)

    signatures: Mapped[list[Signature]] = relationship(
        back_populates="sign_off", cascade="all, delete-orphan", order_by="Signature.id"
    )


class Signature(db.Model):
    __tablename__ = "signatures"
    __table_args__ = (UniqueConstraint("sign_off_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sign_off_id: Mapped[int] = mapped_column(ForeignKey("sign_offs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(10))  # approve | reject
    comment: Mapped[str | None] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))  # what the member saw
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    sign_off: Mapped[SignOff] = relationship(back_populates="signatures")
    user: Mapped[User] = relationship()
