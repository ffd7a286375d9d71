"""The directory the administrator keeps: user accounts and their roles, communes and authorities.

Every change writes one audit event (no case, subject = the user's e-mail or the commune's code) in
the caller's transaction; the entry point commits. Audit rows never carry password material.
Input problems raise ``InvalidInput`` whose ``errors`` map a form field to its messages.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass
from typing import Generic, TypeVar

from marshmallow import ValidationError
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import joinedload

from models import MAX_ID, Authority, Campaign, Case, Commune, CriteriaSet, User, UserRole, db
from states import COMMUNE_SCOPED_ROLES, Role

from . import audit
from .communes import code_or_name_contains
from .errors import InvalidInput, NotFound
from .schemas.common import Email

LOCALES = ("vi", "en")
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 200

# Field messages (English, like every domain message; the web layer translates them).
EMAIL_TAKEN = "This e-mail is already in use."
EMAIL_INVALID = "Not a valid e-mail address."
REQUIRED = "Required."
TOO_LONG = "Too long."
BAD_LOCALE = "Choose Vietnamese or English."
NO_ROLE = "Choose at least one role."
UNKNOWN_ROLE = "Unknown role."
COMMUNE_NEEDED = "A commune officer or chair must belong to a commune."
COMMUNE_NOT_ALLOWED = "Only commune officers and chairs belong to a commune."
UNKNOWN_COMMUNE = "No such commune."
PASSWORD_SHORT = "The password must be at least 10 characters long."
PASSWORD_LONG = "The password is too long."
OWN_ADMIN_ROLE = "You may not remove your own administrator role."
LAST_ADMIN = "This is the last active administrator."
SELF_DEACTIVATE = "You may not deactivate your own account."
CODE_TAKEN = "Another commune already has this code."

T = TypeVar("T")


class _Fields:
    """Collects problems per form field; raises them together."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items())
            raise InvalidInput(summary, errors=self.errors)


def _text(value, name: str, problems: _Fields, *, max_len: int, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            problems.add(name, REQUIRED)
        return None
    if len(text) > max_len:
        problems.add(name, TOO_LONG)
    return text


# --- pages of rows -------------------------------------------------------------------------------


@dataclass
class Page(Generic[T]):
    """One page of a longer list, numbered from 1."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @classmethod
    def of_list(cls, rows: list[T], page: int, per_page: int) -> Page[T]:
        """A page cut from rows already in memory (a page past the end shows the last one)."""
        total = len(rows)
        page = min(max(1, page), max(1, math.ceil(total / per_page)))
        start = (page - 1) * per_page
        return cls(rows[start:start + per_page], page, per_page, total)

    @classmethod
    def of_query(cls, stmt, page: int, per_page: int) -> Page:
        """A page of a SELECT of entities, counted in the database."""
        total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        page = min(max(1, page), max(1, math.ceil(total / per_page)))
        items = list(db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
        return cls(items, page, per_page, total)


# --- users ---------------------------------------------------------------------------------------


def signed_in(user_id: int) -> User | None:
    """The user a request acts as, with the roles every check reads: one SELECT (row and roles joined)
    rather than the two a plain load makes (the roles are a select-in collection)."""
    if not 0 < user_id <= MAX_ID:
        return None
    return db.session.execute(_SIGNED_IN, {"id": user_id}).unique().scalar_one_or_none()


# built once: ``session.get`` with options builds and keys a new SELECT on every call (about a third of a load)
_SIGNED_IN = select(User).options(joinedload(User.role_rows)).where(User.id == bindparam("id"))


def get_user(user_id: int) -> User:
    found = db.session.get(User, user_id)
    if found is None:
        raise NotFound(f"no user {user_id}")
    return found


def list_users(*, search: str = "", role: str = "", commune_id: int | None = None, status: str = "",
               page: int = 1, per_page: int = 25) -> Page[User]:
    """Users matching a text (e-mail or name), a role, a commune and active/inactive, by e-mail."""
    stmt = select(User).order_by(User.email)
    text = search.strip()
    if text:
        like = f"%{text.lower()}%"
        stmt = stmt.where(or_(func.lower(User.email).like(like), func.lower(User.name).like(like)))
    if role:
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    if commune_id is not None:
        stmt = stmt.where(User.commune_id == commune_id)
    if status == "active":
        stmt = stmt.where(User.active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(User.active.is_(False))
    return Page.of_query(stmt, page, per_page)


def _snapshot(user: User) -> dict:
    """The audited view of an account: never the password hash."""
    return {"email": user.email, "name": user.name, "locale": user.locale, "active": bool(user.active),
            "roles": sorted(r.value for r in user.roles),
            "commune": user.commune.code if user.commune is not None else None}


def _roles(values, problems: _Fields) -> set[Role]:
    out: set[Role] = set()
    for value in values or ():
        try:
            out.add(Role(value))
        except ValueError:
            problems.add("roles", UNKNOWN_ROLE)
    if not out and "roles" not in problems.errors:
        problems.add("roles", NO_ROLE)
    return out


def _commune(commune_id, problems: _Fields) -> Commune | None:
    if commune_id in (None, ""):
        return None
    try:
        found = db.session.get(Commune, int(commune_id))
    except (TypeError, ValueError):
        found = None
    if found is None:
        problems.add("commune_id", UNKNOWN_COMMUNE)
    return found


def _commune_rule(roles: set[Role], commune: Commune | None, problems: _Fields) -> None:
    """Commune officers and chairs act for exactly one commune; nobody else is tied to one."""
    if "commune_id" in problems.errors:
        return
    if roles & COMMUNE_SCOPED_ROLES and commune is None:
        problems.add("commune_id", COMMUNE_NEEDED)
    elif not roles & COMMUNE_SCOPED_ROLES and commune is not None and "roles" not in problems.errors:
        problems.add("commune_id", COMMUNE_NOT_ALLOWED)


def _password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN_LENGTH:
        return PASSWORD_SHORT
    if len(password) > PASSWORD_MAX_LENGTH:
        return PASSWORD_LONG
    return None


def _active_admins_locked() -> list[int]:
    """Ids of the active administrators, locked for the rest of the transaction.

    A no-op UPDATE takes the row locks on PostgreSQL and the write lock on SQLite (where a SELECT
    alone locks nothing), so two admins removing each other at once cannot leave none: the second
    waits for the first, then counts again.
    """
    admins = select(UserRole.user_id).where(UserRole.role == Role.admin.value)
    db.session.execute(update(User).where(User.id.in_(admins), User.active.is_(True)).values(active=User.active)
                       .execution_options(synchronize_session=False))
    return list(db.session.scalars(
        select(User.id).where(User.id.in_(admins), User.active.is_(True)).order_by(User.id)))


def _is_last_active_admin(user: User) -> bool:
    admins = _active_admins_locked()
    return admins == [user.id]


def create_user(*, actor: User, now: dt.datetime, email: str, name: str, locale: str = "vi",
                roles=(), commune_id=None, password: str = "") -> User:
    """A new account; ``password`` may be left empty (the account cannot log in until one is set)."""
    problems = _Fields()
    address = None
    raw_email = (email or "").strip()
    if not raw_email:
        problems.add("email", REQUIRED)
    else:
        try:
            address = Email().deserialize(raw_email)
        except ValidationError:
            problems.add("email", EMAIL_INVALID)
        if address and len(address) > 254:
            problems.add("email", TOO_LONG)
        if address and db.session.scalar(select(User.id).where(func.lower(User.email) == address)):
            problems.add("email", EMAIL_TAKEN)
    name = _text(name, "name", problems, max_len=200)
    if locale not in LOCALES:
        problems.add("locale", BAD_LOCALE)
    wanted = _roles(roles, problems)
    commune = _commune(commune_id, problems)
    _commune_rule(wanted, commune, problems)
    if password:
        problem = _password_problem(password)
        if problem:
            problems.add("password", problem)
    problems.raise_if_any()

    user = User(email=address, name=name, locale=locale, active=True, commune=commune, created_at=now)
    db.session.add(user)
    for role in sorted(wanted):
        user.grant(role)
    if password:
        user.set_password(password)
    db.session.flush()
    after = _snapshot(user)
    after["password_set"] = bool(password)
    audit.record("user.created", actor=actor, now=now, subject=user.email, after=after)
    return user


def update_user(user: User, *, actor: User, now: dt.datetime, name: str, locale: str, roles=(),
                commune_id=None) -> bool:
    """Change an account's name, language, roles and commune; True if anything changed."""
    problems = _Fields()
    name = _text(name, "name", problems, max_len=200)
    if locale not in LOCALES:
        problems.add("locale", BAD_LOCALE)
    wanted = _roles(roles, problems)
    commune = _commune(commune_id, problems)
    _commune_rule(wanted, commune, problems)
    if Role.admin in user.roles and Role.admin not in wanted and "roles" not in problems.errors:
        if user.id == actor.id:
            problems.add("roles", OWN_ADMIN_ROLE)
        elif user.active and _is_last_active_admin(user):
            problems.add("roles", LAST_ADMIN)
    problems.raise_if_any()

    before = _snapshot(user)
    user.name, user.locale, user.commune = name, locale, commune
    user.commune_id = commune.id if commune is not None else None
    for row in list(user.role_rows):
        if Role(row.role) not in wanted:
            user.role_rows.remove(row)
    for role in sorted(wanted):
        user.grant(role)
    db.session.flush()
    after = _snapshot(user)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return False
    audit.record("user.updated", actor=actor, now=now, subject=user.email,
                 before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return True


def set_active(user: User, active: bool, *, actor: User, now: dt.datetime) -> bool:
    """Deactivate or reactivate an account; an admin may not lock themself out nor the last admin."""
    if bool(user.active) == active:
        return False
    if not active:
        if user.id == actor.id:
            raise InvalidInput(SELF_DEACTIVATE, errors={"active": [SELF_DEACTIVATE]})
        if Role.admin in user.roles and _is_last_active_admin(user):
            raise InvalidInput(LAST_ADMIN, errors={"active": [LAST_ADMIN]})
    user.active = active
    db.session.flush()
    audit.record("user.activated" if active else "user.deactivated", actor=actor, now=now,
                 subject=user.email, before={"active": not active}, after={"active": active})
    return True


def set_password(user: User, password: str, *, actor: User, now: dt.datetime) -> None:
    """A new password (strong hash); the audit event says only that it changed."""
    problem = _password_problem(password or "")
    if problem:
        raise InvalidInput(problem, errors={"password": [problem]})
    user.set_password(password)
    db.session.flush()
    audit.record("user.password_set", actor=actor, now=now, subject=user.email,
                 after={"password_changed": True})


# --- communes and authorities --------------------------------------------------------------------


def get_commune(commune_id: int) -> Commune:
    found = db.session.get(Commune, commune_id)
    if found is None:
        raise NotFound(f"no commune {commune_id}")
    return found


def all_communes() -> list[Commune]:
    """Every commune by code (for pickers)."""
    return list(db.session.scalars(select(Commune).order_by(Commune.code)))


def all_authorities() -> list[Authority]:
    return list(db.session.scalars(select(Authority).order_by(Authority.name)))


def list_communes(*, search: str = "", page: int = 1, per_page: int = 50) -> Page[Commune]:
    """Communes whose code or name contains ``search``, by code."""
    stmt = select(Commune).order_by(Commune.code)
    if search.strip():
        stmt = stmt.where(code_or_name_contains(search))  # the name as the board searches it: accents, case
    return Page.of_query(stmt, page, per_page)


_COMMUNE_FIELDS = ("code", "name", "email", "phone", "address")


def _commune_snapshot(commune: Commune) -> dict:
    out = {k: getattr(commune, k) for k in _COMMUNE_FIELDS}
    out["authority"] = commune.authority.name if commune.authority is not None else None
    return out


def _commune_input(commune: Commune | None, data: dict, problems: _Fields) -> dict:
    values = {
        "code": _text(data.get("code"), "code", problems, max_len=20),
        "name": _text(data.get("name"), "name", problems, max_len=200),
        "authority": _text(data.get("authority"), "authority", problems, max_len=200),
        "phone": _text(data.get("phone"), "phone", problems, max_len=50, required=False),
        "address": _text(data.get("address"), "address", problems, max_len=300, required=False),
        "email": None,
    }
    raw_email = (data.get("email") or "").strip()
    if raw_email:
        try:
            values["email"] = Email().deserialize(raw_email)
        except ValidationError:
            problems.add("email", EMAIL_INVALID)
    code = values["code"]
    if code:
        clash = db.session.scalar(select(Commune.id).where(Commune.code == code))
        if clash is not None and (commune is None or clash != commune.id):
            problems.add("code", CODE_TAKEN)
    return values


def _authority(name: str, *, actor: User, now: dt.datetime) -> Authority:
    """The authority of this name, created (and audited) when it is new."""
    found = db.session.scalar(select(Authority).where(Authority.name == name))
    if found is None:
        found = Authority(name=name)
        db.session.add(found)
        db.session.flush()
        audit.record("authority.created", actor=actor, now=now, subject=name, after={"name": name})
    return found


def create_commune(data: dict, *, actor: User, now: dt.datetime) -> Commune:
    """A new commune (code unique, name, authority by name; e-mail, phone, address optional)."""
    problems = _Fields()
    values = _commune_input(None, data, problems)
    problems.raise_if_any()
    authority = _authority(values.pop("authority"), actor=actor, now=now)
    commune = Commune(authority=authority, **values)
    db.session.add(commune)
    db.session.flush()
    audit.record("commune.created", actor=actor, now=now, subject=commune.code,
                 after=_commune_snapshot(commune))
    return commune


def update_commune(commune: Commune, data: dict, *, actor: User, now: dt.datetime) -> bool:
    """Change a commune; True if anything changed (one audit event with what changed)."""
    problems = _Fields()
    values = _commune_input(commune, data, problems)
    problems.raise_if_any()
    before = _commune_snapshot(commune)
    authority_name = values.pop("authority")
    if commune.authority is None or commune.authority.name != authority_name:
        commune.authority = _authority(authority_name, actor=actor, now=now)
    for key, value in values.items():
        setattr(commune, key, value)
    db.session.flush()
    after = _commune_snapshot(commune)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return False
    # subject: the code the commune had, so its history stays under one name when the code changes
    audit.record("commune.updated", actor=actor, now=now, subject=before["code"],
                 before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return True


# --- reads for the administration pages ----------------------------------------------------------


def directory_counts() -> dict[str, int]:
    """Totals shown on the administration start page."""

    def count(stmt) -> int:
        return db.session.scalar(stmt) or 0

    return {
        "users": count(select(func.count(User.id))),
        "active_users": count(select(func.count(User.id)).where(User.active.is_(True))),
        "admins": len(list(db.session.scalars(
            select(User.id).join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.admin.value, User.active.is_(True))))),
        "communes": count(select(func.count(Commune.id))),
        "authorities": count(select(func.count(Authority.id))),
        "criteria_sets": count(select(func.count(CriteriaSet.id))),
        "campaigns": count(select(func.count(Campaign.id))),
        "cases": count(select(func.count(Case.id))),
    }


@dataclass
class CampaignLine:
    campaign: Campaign
    stages: Counter
    total: int


def campaign_lines(only: Campaign | None = None) -> list[CampaignLine]:
    """Every campaign (newest year first), or ``only`` one, with its number of cases per stage."""
    if only is not None:
        campaigns = [only]
    else:
        campaigns = db.session.scalars(select(Campaign).order_by(Campaign.year.desc(), Campaign.key)).all()
    counts: dict[int, Counter] = {c.id: Counter() for c in campaigns}
    stmt = select(Case.campaign_id, Case.stage, func.count(Case.id)).group_by(Case.campaign_id, Case.stage)
    if only is not None:
        stmt = stmt.where(Case.campaign_id == only.id)
    for campaign_id, stage, n in db.session.execute(stmt):
        counts.setdefault(campaign_id, Counter())[stage] = n
    return [CampaignLine(c, counts[c.id], sum(counts[c.id].values())) for c in campaigns]


def campaign_by_key(key: str) -> Campaign:
    found = db.session.scalar(select(Campaign).where(Campaign.key == key))
    if found is None:
        raise NotFound(f"no campaign {key!r}")
    return found


# --- one's own account ---------------------------------------------------------------------------

def set_own_locale(user: User, locale: str, *, now: dt.datetime) -> bool:
    """The language a user reads pages and e-mails in (vi or en); audited when it changes."""
    if locale not in LOCALES:
        raise InvalidInput(f"unknown language '{locale}'", errors={"locale": ["unknown language"]})
    if user.locale == locale:
        return False
    before, user.locale = user.locale, locale
    db.session.flush()
    audit.record("user.updated", actor=user, now=now, subject=user.email, before={"locale": before},
                 after={"locale": locale})
    return True


def change_own_password(user: User, current: str, new: str, *, now: dt.datetime) -> None:
    """A user's own new password, only with the current one (a left-open session cannot take the account)."""
    if not user.check_password(current or ""):
        raise InvalidInput("the current password is wrong", errors={"current": ["the current password is wrong"]})
    set_password(user, new, actor=user, now=now)
