"""Who may see and do what: role plus commune scope, one implementation for pages, API and CLI."""

from __future__ import annotations

from sqlalchemy import select

from models import Case, CouncilSeat, User, db
from states import COMMUNE_SCOPED_ROLES, Role, TransitionSpec

from .errors import NotPermitted

CAMPAIGN_WIDE_READERS = frozenset(
    {Role.secretariat, Role.secretariat_head, Role.admin, Role.auditor, Role.authority_leader}
)
SECRETARIAT_WRITERS = frozenset({Role.secretariat, Role.secretariat_head, Role.admin})


def holds_seat(user: User, campaign_id: int) -> bool:
    return db.session.scalar(
        select(CouncilSeat.id).where(CouncilSeat.campaign_id == campaign_id, CouncilSeat.user_id == user.id)
    ) is not None


def is_council_chair(user: User, campaign_id: int) -> bool:
    return bool(db.session.scalar(
        select(CouncilSeat.is_chair).where(CouncilSeat.campaign_id == campaign_id, CouncilSeat.user_id == user.id)
    ))


def in_commune_scope(user: User, case: Case) -> bool:
    return user.commune_id is not None and user.commune_id == case.commune_id


def can_view_case(user: User | None, case: Case) -> bool:
    if user is None or not user.is_active:
        return False
    roles = user.roles
    if roles & CAMPAIGN_WIDE_READERS:
        return True
    if roles & COMMUNE_SCOPED_ROLES and in_commune_scope(user, case):
        return True
    if roles & {Role.council_member, Role.council_chair} and holds_seat(user, case.campaign_id):
        return True
    return False


NO_COMMUNE = -1  # a commune id no case has: "sees none of the campaign's cases"


def commune_scope(user: User | None, campaign_id: int) -> int | None:
    """``can_view_case`` over a whole campaign, for set-based lists: None when ``user`` sees every case of
    it, else the one commune id whose case they see (``NO_COMMUNE`` when none)."""
    if user is None or not user.is_active:
        return NO_COMMUNE
    roles = user.roles
    if roles & CAMPAIGN_WIDE_READERS:
        return None
    if roles & {Role.council_member, Role.council_chair} and holds_seat(user, campaign_id):
        return None
    if roles & COMMUNE_SCOPED_ROLES and user.commune_id is not None:
        return user.commune_id
    return NO_COMMUNE


def require_view(user: User | None, case: Case) -> None:
    if not can_view_case(user, case):
        raise NotPermitted("You may not see this case.")


def fire_refusal(user: User | None, case: Case, spec: TransitionSpec) -> str | None:
    """Why ``user`` may not fire ``spec`` on ``case`` (None if they may)."""
    if user is None:
        return "no user"
    if not user.is_active:
        return "this account is disabled"
    allowed = user.roles & spec.roles
    if not allowed:
        wanted = ", ".join(sorted(r.value for r in spec.roles))
        return f"'{spec.name}' needs one of the roles: {wanted}"
    if allowed <= COMMUNE_SCOPED_ROLES and not in_commune_scope(user, case):
        return "this case belongs to another commune"
    if allowed == {Role.council_chair} and not is_council_chair(user, case.campaign_id):
        return "only the chair of this campaign's council may do this"
    return None


def require_fire(user: User | None, case: Case, spec: TransitionSpec) -> None:
    reason = fire_refusal(user, case, spec)
    if reason:
        raise NotPermitted(reason)


def require_self_scorer(user: User, case: Case) -> None:
    if not user.is_active:
        raise NotPermitted("This account is disabled.")
    if not (user.has_role(Role.commune_officer, Role.commune_chair) and in_commune_scope(user, case)):
        raise NotPermitted("Only the commune's own officer may self-assess this case.")


def require_secretariat(user: User) -> None:
    if not user.is_active:
        raise NotPermitted("This account is disabled.")
    if not user.roles & SECRETARIAT_WRITERS:
        raise NotPermitted("Only the secretariat may do this.")


def require_council_seat(user: User, case: Case) -> None:
    if not user.is_active:
        raise NotPermitted("This account is disabled.")
    if not holds_seat(user, case.campaign_id):
        raise NotPermitted("Only members of this campaign's council may sign off.")
