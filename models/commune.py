"""Authorities (district or province People's Committees) and communes."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import db


class Authority(db.Model):
    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)

    communes: Mapped[list[Commune]] = relationship(back_populates="authority")


class Commune(db.Model):
    __tablename__ = "communes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # administrative-unit code
    name: Mapped[str] = mapped_column(String(200))
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(String(300))

    authority: Mapped[Authority] = relationship(back_populates="communes")

