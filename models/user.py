"""Users and their roles. Commune-scoped roles apply to the user's one commune."""

from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from states import COMMUNE_SCOPED_ROLES, Role

from .base import UTCDateTime, db, utcnow
from .commune import Commune


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(5), default="vi")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    commune: Mapped[Commune | None] = relationship()
    role_rows: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", back_populates="user"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(r.role) for r in self.role_rows)

    def has_role(self, *roles: Role) -> bool:
        mine = self.roles
        return any(r in mine for r in roles)

    def grant(self, role: Role) -> bool:
        """Add a role; True if it was new. Commune-scoped roles need ``commune_id`` set."""
        if role in self.roles:
            return False
        if role in COMMUNE_SCOPED_ROLES and self.commune_id is None and self.commune is None:
            raise ValueError(f"role {role.value} needs a commune")
        self.role_rows.append(UserRole(role=role.value))
        return True

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.active)

    @property
    def label(self) -> str:
        return self.email


class UserRole(db.Model):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(30))

    user: Mapped[User] = relationship(back_populates="role_rows")
