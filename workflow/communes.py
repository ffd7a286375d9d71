"""Communes as a reader may see them: every commune for campaign-wide readers, the communes of their
campaigns for council members, their own commune for commune officers and chairs (``access`` rules)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.orm import joinedload

from models import Campaign, Case, Commune, CouncilSeat, User, db
from states import COMMUNE_SCOPED_ROLES, COUNCIL_ROLES

from . import access
from .board import fold, name_contains


@dataclass(frozen=True)
class CommunePage:
    items: list[Commune]
    cases: dict[int, list[Case]]  # commune id -> its cases the reader sees, newest campaign first
    page: int
    per_page: int
    total: int


def _visible(user: User):
    """A WHERE clause: the communes ``user`` may see (the same rule as ``access.can_view_case``)."""
    if not user.is_active:
        return false()
    roles = user.roles
    if roles & access.CAMPAIGN_WIDE_READERS:
        return None
    clauses = []
    if roles & COMMUNE_SCOPED_ROLES and user.commune_id is not None:
        clauses.append(Commune.id == user.commune_id)
    if roles & COUNCIL_ROLES:
        seats = select(CouncilSeat.campaign_id).where(CouncilSeat.user_id == user.id)
        clauses.append(exists().where(Case.commune_id == Commune.id, Case.campaign_id.in_(seats)))
    return or_(*clauses) if clauses else false()


def code_or_name_contains(text: str):
    """Code or name contains ``text``; the name accent- and case-insensitively (as the board's search)."""
    folded = fold(" ".join(text.split()))
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    code = func.lower(Commune.code).like(f"%{escaped}%", escape="\\")
    return or_(name_contains(Commune.name, text), code)


def _filtered(user: User, *, campaign: Campaign | None, code: str | None, search: str):
    stmt = select(Commune)
    visible = _visible(user)
    if visible is not None:
        stmt = stmt.where(visible)
    if campaign is not None:
        stmt = stmt.where(exists().where(Case.commune_id == Commune.id, Case.campaign_id == campaign.id))
    if code:
        stmt = stmt.where(Commune.code == code)
    if search.strip():
        stmt = stmt.where(code_or_name_contains(search))
    return stmt


def _cases_of(user: User, communes: list[Commune], campaign: Campaign | None) -> dict[int, list[Case]]:
    """The cases of ``communes`` the reader sees, newest campaign first: one query, then the one rule."""
    ids = [c.id for c in communes]
    out: dict[int, list[Case]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = (select(Case).join(Campaign, Campaign.id == Case.campaign_id).options(joinedload(Case.campaign))
            .where(Case.commune_id.in_(ids)).order_by(Campaign.year.desc(), Campaign.key))
    if campaign is not None:
        stmt = stmt.where(Case.campaign_id == campaign.id)
    for case in db.session.scalars(stmt):
        if access.can_view_case(user, case):
            out[case.commune_id].append(case)
    return out


def communes_visible_to(user: User, *, campaign: Campaign | None = None, code: str | None = None,
                        search: str = "", page: int = 1, per_page: int = 25) -> CommunePage:
    """One page of the communes ``user`` may see, by code, narrowed by campaign, exact code and search."""
    stmt = _filtered(user, campaign=campaign, code=code, search=search)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(db.session.scalars(stmt.order_by(Commune.code).offset((page - 1) * per_page).limit(per_page)))
    return CommunePage(items=rows, cases=_cases_of(user, rows, campaign), page=page, per_page=per_page,
                       total=total)


def visible_commune(user: User, code: str) -> tuple[Commune, list[Case]] | None:
    """The commune with ``code`` and its cases the reader sees, or None when it is missing or not theirs."""
    found = db.session.scalar(_filtered(user, campaign=None, code=code, search=""))
    if found is None:
        return None
    return found, _cases_of(user, [found], None)[found.id]
