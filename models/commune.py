"""Authorities (district or province People's Committees) and communes."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .base import db
from .collation import sort_key


class Authority(db.Model):
    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)

    communes: Mapped[list[Commune]] = relationship(back_populates="authority")


def _inserted_name_key(context) -> str:
    """``name_key`` of a row inserted without one (a Core or bulk insert, where no validator runs)."""
    return sort_key(context.get_current_parameters()["name"])


class Commune(db.Model):
    __tablename__ = "communes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # administrative-unit code
    name: Mapped[str] = mapped_column(String(200))
    # ORDER BY name_key, name: Vietnamese alphabetical order (models.collation), compared byte by byte
    # ("C" on PostgreSQL, whatever the database's locale). Kept by _name_sets_key and _inserted_name_key.
    name_key: Mapped[str] = mapped_column(Text().with_variant(Text(collation="C"), "postgresql"),
                                          default=_inserted_name_key)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(String(300))

    authority: Mapped[Authority] = relationship(back_populates="communes")

    @validates("name")
    def _name_sets_key(self, _field: str, name: str) -> str:
        """Every rename re-sorts: an UPDATE of the name through Core must set ``name_key`` itself."""
        self.name_key = sort_key(name)
        return name

