"""The top navigation: the links this user's roles open, in a fixed order."""

from __future__ import annotations

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from states import Role

_SECRETARIAT = {Role.secretariat, Role.secretariat_head, Role.admin, Role.authority_leader}
LINKS = (
    ("board.board", _l("Case board"), _SECRETARIAT | {Role.auditor}),
    ("dashboard.index", _l("Dashboard"), _SECRETARIAT | {Role.auditor, Role.council_member, Role.council_chair}),
    ("pages.index", _l("Cases"), set(Role)),
    ("results.index", _l("Results"), set(Role)),
    ("survey.index", _l("Survey"), _SECRETARIAT),
    ("council.inbox", _l("Sign-offs"), {Role.council_member, Role.council_chair}),
    ("auditor.search", _l("History"), {Role.auditor, Role.admin, Role.secretariat_head}),
    ("admin.index", _l("Administration"), {Role.admin}),
)


def nav_links() -> list[tuple[str, str, str]]:
    """(endpoint, url, label) for each link the current user may follow."""
    if not current_user.is_authenticated:
        return []
    roles = current_user.roles
    return [(endpoint, url_for(endpoint), str(label)) for endpoint, label, wanted in LINKS
            if roles & wanted and endpoint in current_app.view_functions]


def init_app(app) -> None:
    app.jinja_env.globals["nav_links"] = nav_links
