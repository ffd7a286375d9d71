"""Failed log-ins, one row each, shared by every web worker: the source of login throttling."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import UTCDateTime, db


class LoginFailure(db.Model):
    """One failed log-in: the e-mail tried (known or not, so lockouts reveal no accounts) and the client."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account_failed_at", "account", "failed_at"),
        Index("ix_login_failures_address_failed_at", "address", "failed_at"),
        Index("ix_login_failures_failed_at", "failed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(254))  # the e-mail as typed, trimmed and lower-cased
    address: Mapped[str] = mapped_column(String(64))  # the client's IP address
    failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
