"""Domain messages (blockers, refusals) in the reader's language.

The workflow layer speaks English, so the CLI, the logs and the audit trail read the same everywhere;
pages pass its messages through the ``domain`` filter, which matches the known shapes and translates
them. An unknown message is shown as it is (in English) rather than hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext as _

from states import STAGE_TITLES_VI, Stage

from .i18n import select_locale


def _stage(name: str) -> str:
    try:
        stage = Stage(name)
    except ValueError:
        return name
    return STAGE_TITLES_VI[stage] if select_locale() == "vi" else name.replace("_", " ")


_PATTERNS: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (re.compile(r"no score"), lambda m: _("no score")),
    (re.compile(r"evidence required"), lambda m: _("evidence required")),
    (re.compile(r"not appraised"), lambda m: _("not appraised")),
    (re.compile(r"no survey points"), lambda m: _("no survey points")),
    (re.compile(r"score (\S+) outside 0\.\.(\S+)"),
     lambda m: _("score %(score)s outside 0..%(max)s", score=m[1], max=m[2])),
    (re.compile(r"a reason is required"), lambda m: _("a reason is required")),
    (re.compile(r"a revision deadline is required"), lambda m: _("a revision deadline is required")),
    (re.compile(r"the revision deadline is in the past"), lambda m: _("the revision deadline is in the past")),
    (re.compile(r"the revision deadline is not a date"), lambda m: _("the revision deadline is not a date")),
    (re.compile(r"awaiting council sign-off of '(\w+)': (.*)"),
     lambda m: _("awaiting the council's sign-off (%(progress)s)", progress=m[2])),
    (re.compile(r"the case is in stage '(\w+)'; '(\w+)' is fired from '(\w+)'"),
     lambda m: _("the case is now in stage “%(stage)s”", stage=_stage(m[1]))),
    (re.compile(r"this account is disabled\.?", re.I), lambda m: _("this account is disabled")),
    (re.compile(r"this case belongs to another commune"), lambda m: _("this case belongs to another commune")),
    (re.compile(r"only the chair of this campaign's council may do this"),
     lambda m: _("only the chair of this campaign's council may do this")),
    (re.compile(r"'(\w+)' needs one of the roles: (.*)"), lambda m: _("your role may not do this")),
    (re.compile(r"You may not see this case\."), lambda m: _("You may not see this case.")),
    (re.compile(r"Only the secretariat may do this\."), lambda m: _("Only the secretariat may do this.")),
    (re.compile(r"The case was changed by someone else; reload it and try again\."),
     lambda m: _("Someone else changed this case; reload it and try again.")),
]


def translate(message) -> str:
    """``message`` (a domain message in English) in the current language, when its shape is known."""
    text = str(message)
    for pattern, render in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return render(match)
    return text


def init_app(app) -> None:
    app.jinja_env.filters["domain"] = translate
