"""Domain messages (blockers, refusals) in the reader's language.

The workflow layer speaks English, so the CLI, the logs and the audit trail read the same everywhere;
pages pass its messages through the ``domain`` filter, which translates a ``Message`` (marked ``N_`` in the
workflow layer) by its id and parameters, and otherwise matches the known shapes and translates them. An
unknown message is shown as it is (in English) rather than hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from workflow.schemas.common import Message

from .i18n import points, stage_title

# the kinds of deadline notice, as the admin pages and the case page name them
KIND_LABELS = {
    "reminder": _l("Reminder"),
    "overdue": _l("Overdue notice"),
    "escalation": _l("Escalation"),
}


def _notice_kind(kind: str) -> str:
    """reminder / overdue / escalation as the admin pages name them, lower-cased for mid-sentence."""
    label = str(KIND_LABELS.get(kind, kind))
    return label[:1].lower() + label[1:]


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
     lambda m: _("awaiting the council's sign-off (%(progress)s)", progress=translate(m[2]))),
    (re.compile(r"(\d+) of (\d+) approvals needed \((\d+) members\)"),
     lambda m: _("%(have)s of %(needed)s approvals needed (%(members)s members)", have=m[1], needed=m[2],
                 members=m[3])),
    (re.compile(r"(\d+) of (\d+) approvals needed \((\d+) members\); chair approved"),
     lambda m: _("%(have)s of %(needed)s approvals needed (%(members)s members); the chair approved",
                 have=m[1], needed=m[2], members=m[3])),
    (re.compile(r"(\d+) of (\d+) approvals needed \((\d+) members\); chair not yet signed"),
     lambda m: _("%(have)s of %(needed)s approvals needed (%(members)s members); the chair has not signed yet",
                 have=m[1], needed=m[2], members=m[3])),
    (re.compile(r"'(\w+)' cannot be fired from stage '(\w+)'"),
     lambda m: _("not possible in stage “%(stage)s”", stage=stage_title(m[2]))),
    (re.compile(r"superseded by the later (\w+) notice of level (\d+)"),
     lambda m: _("superseded by a later notice (%(kind)s, level %(level)s)", kind=_notice_kind(m[1]), level=m[2])),
    (re.compile(r"its moment passed ([\d.]+) hours ago, more than the ([\d.]+) hours a notice may still be sent"),
     lambda m: _("its moment passed %(hours)s hours ago, more than the %(limit)s hours a notice may still be sent",
                 hours=m[1].replace(".", ","), limit=m[2])),
    (re.compile(r"nobody to send it to"), lambda m: _("nobody to send it to")),
    (re.compile(r"the case is in stage '(\w+)'; '(\w+)' is fired from '(\w+)'"),
     lambda m: _("the case is now in stage “%(stage)s”", stage=stage_title(m[1]))),
    (re.compile(r"this account is disabled\.?", re.I), lambda m: _("this account is disabled")),
    (re.compile(r"this case belongs to another commune"), lambda m: _("this case belongs to another commune")),
    (re.compile(r"only the chair of this campaign's council may do this"),
     lambda m: _("only the chair of this campaign's council may do this")),
    (re.compile(r"'(\w+)' needs one of the roles: (.*)"), lambda m: _("your role may not do this")),
    (re.compile(r"You may not see this case\."), lambda m: _("You may not see this case.")),
    (re.compile(r"Only the secretariat may do this\."), lambda m: _("Only the secretariat may do this.")),
    (re.compile(r"The case was changed by someone else; reload it and try again\."),
     lambda m: _("Someone else changed this case; reload it and try again.")),
    # score and evidence checks (workflow.scores, workflow.evidence)
    (re.compile(r"not a number"), lambda m: _("not a number")),
    (re.compile(r"at most two decimals"), lambda m: _("at most two decimals")),
    (re.compile(r"may not be marked not applicable"), lambda m: _("may not be marked not applicable")),
    (re.compile(r"filled from the survey"), lambda m: _("filled from the survey")),
    (re.compile(r"listed twice in the form"), lambda m: _("listed twice in the form")),
    (re.compile(r"no such sub-criterion in this campaign's criteria set"),
     lambda m: _("no such sub-criterion in this campaign's criteria set")),
    (re.compile(r"no file was chosen"), lambda m: _("no file was chosen")),
    (re.compile(r"must be between 0 and (\S+)"), lambda m: _("must be between 0 and %(max)s", max=points(m[1]))),
    (re.compile(r"(.+): only PDF, DOCX, XLSX, JPG and PNG files are accepted\."),
     lambda m: _("%(file)s: only PDF, DOCX, XLSX, JPG and PNG files are accepted.", file=m[1])),
    (re.compile(r"(.+): the content is not a (\w+) file\."),
     lambda m: _("%(file)s: the content is not a %(kind)s file.", file=m[1], kind=m[2])),
    (re.compile(r"(.+): declared as (\S+), but the name says (\S+)\."),
     lambda m: _("%(file)s: declared as %(declared)s, but the name says %(expected)s.", file=m[1],
                 declared=m[2], expected=m[3])),
    (re.compile(r"(.+): (\d+) bytes is over the limit of (\d+) bytes\."),
     lambda m: _("%(file)s: %(size)s bytes is over the limit of %(limit)s bytes.", file=m[1], size=m[2],
                 limit=m[3])),
    (re.compile(r"(.+): the file is empty\."), lambda m: _("%(file)s: the file is empty.", file=m[1])),
    (re.compile(r"(.+): the file could not be stored \(the evidence store is full or not writable\); .*"),
     lambda m: _("%(file)s: the file could not be stored (the evidence store is full or not writable); nothing "
                 "was saved. Try again later or tell the administrator.", file=m[1])),
    (re.compile(r"'(.+)' is not a plain file name \(no folders or '\.\.'\)\."),
     lambda m: _("“%(file)s” is not a plain file name (no folders or “..”).", file=m[1])),
    (re.compile(r"(Self scores|Appraised scores|Evidence) can only be changed in [\w-]+ \(the case is in (\w+)\)\."),
     lambda m: _("This can no longer be changed: the case is now in stage “%(stage)s”.", stage=stage_title(m[2]))),
    (re.compile(r"Only the commune's own officer may (self-assess this case|change its evidence)\."),
     lambda m: _("Only the commune's own officer may do this.")),
    # council sign-off (workflow.signoff)
    (re.compile(r"You have already signed this sign-off\."), lambda m: _("You have already signed this sign-off.")),
    (re.compile(r"There is no pending sign-off for this case\."),
     lambda m: _("There is no pending sign-off for this case.")),
    (re.compile(r"A rejection needs a comment\."), lambda m: _("A rejection needs a comment.")),
    (re.compile(r"Only members of this campaign's council may sign off\."),
     lambda m: _("Only members of this campaign's council may sign off.")),
    # the audit chain check (workflow.audit.verify)
    (re.compile(r"content does not match its hash \(edited\)"),
     lambda m: _("content does not match its hash (edited)")),
    (re.compile(r"expected seq (\d+), found (\d+): events missing \(deleted\)"),
     lambda m: _("expected seq %(expected)s, found %(found)s: events missing (deleted)", expected=m[1],
                 found=m[2])),
    (re.compile(r"expected seq (\d+), found (\d+): events reordered"),
     lambda m: _("expected seq %(expected)s, found %(found)s: events reordered", expected=m[1], found=m[2])),
    (re.compile(r"prev_hash does not match the previous event's hash"),
     lambda m: _("prev_hash does not match the previous event's hash")),
    (re.compile(r"the chain head records more events than the table holds \(tail deleted\)"),
     lambda m: _("the chain head records more events than the table holds (tail deleted)")),
    # anchors held outside the database (workflow.audit_anchor)
    (re.compile(r"the event at seq (\d+) no longer has the hash of the anchor held outside the database: "
                r"the history up to it was rewritten"),
     lambda m: _("the event at seq %(seq)s no longer has the hash of the anchor held outside the system: "
                 "the history up to it was rewritten", seq=m[1])),
    (re.compile(r"there is no event at seq (\d+), which an anchor held outside the database records: "
                r"the history was cut back"),
     lambda m: _("there is no event at seq %(seq)s, which an anchor held outside the system records: "
                 "the history was cut back", seq=m[1])),
    (re.compile(r"(line|anchor) (\d+): '(.*)' is not an anchor: .*", re.S),
     lambda m: _("line %(n)s: “%(text)s” is not an anchor: write it as SEQ:HASH (the event's number, a colon "
                 "and its 64 hexadecimal digits), as the daily anchor e-mail gives it", n=m[2], text=m[3])),
    (re.compile(r"(line|anchor) (\d+): an anchor's seq starts at 1"),
     lambda m: _("line %(n)s: an anchor's seq starts at 1", n=m[2])),
    (re.compile(r"at most (\d+) anchors at a time \((\d+) given\)"),
     lambda m: _("at most %(max)s anchors at a time (%(n)s given)", max=m[1], n=m[2])),
    # field messages that reach a page as plain text (a plan or criteria file's problems are Messages,
    # translated by their id in ``said``)
    (re.compile(r"required"), lambda m: _("required")),
    (re.compile(r"unknown field"), lambda m: _("unknown field")),
    (re.compile(r"not a valid e-mail address"), lambda m: _("not a valid e-mail address")),
    (re.compile(r"not a whole number"), lambda m: _("not a whole number")),
    (re.compile(r"not a text"), lambda m: _("not a text")),
    (re.compile(r"(must|may) not be empty"), lambda m: _("may not be empty")),
    (re.compile(r"not a list"), lambda m: _("not a list")),
    (re.compile(r"not a mapping \(key: value\)"), lambda m: _("not a mapping (key: value)")),
    (re.compile(r"not true or false"), lambda m: _("not true or false")),
    (re.compile(r"not a date \(YYYY-MM-DD\) or month \(YYYY-MM\): (.*)"),
     lambda m: _("not a date (YYYY-MM-DD) or month (YYYY-MM): %(value)s", value=m[1])),
    (re.compile(r"YAML error: (.*)"), lambda m: _("YAML error: %(detail)s", detail=m[1])),
    (re.compile(r"the file is not UTF-8 text"), lambda m: _("the file is not UTF-8 text")),
    # accounts (workflow.users)
    (re.compile(r"the current password is wrong"), lambda m: _("the current password is wrong")),
    (re.compile(r"The password must be at least 10 characters long\."),
     lambda m: _("The password must be at least 10 characters long.")),
    (re.compile(r"The password is too long\."), lambda m: _("The password is too long.")),
    (re.compile(r"a name is required"), lambda m: _("a name is required")),
    (re.compile(r"at most (\d+) characters"), lambda m: _("at most %(n)s characters", n=m[1])),
    # next year's campaign and the dashboard (workflow.campaign_rollover, workflow.dashboard)
    (re.compile(r"a campaign with key (\S+) already exists \(year (\d+)\); choose another key"),
     lambda m: _("a campaign with key %(key)s already exists (year %(year)s); choose another key",
                 key=m[1], year=m[2])),
    (re.compile(r"(.*) is not a campaign key: .*"),
     lambda m: _("%(key)s is not a campaign key: lower-case letters, digits, '.', '_' or '-' (like nui-thanh-2024)",
                 key=m[1])),
    (re.compile(r"the new year must come after (\d+) \(got (.*)\)"),
     lambda m: _("the new year must come after %(year)s (got %(got)s)", year=m[1], got=m[2])),
    (re.compile(r"(.*) is not a year"), lambda m: _("%(value)s is not a year", value=m[1])),
    (re.compile(r"Only the secretariat, the authority, the council and auditors may see the dashboard\."),
     lambda m: _("Only the secretariat, the authority, the council and auditors may see the dashboard.")),
    # publication of results (workflow.publication)
    (re.compile(r"Cannot publish: not yet approved: (.*)"),
     lambda m: _("Cannot publish: these cases are not yet approved: %(cases)s", cases=m[1])),
    (re.compile(r"Cannot publish: the campaign has no cases"), lambda m: _("Cannot publish: the campaign has no cases.")),
    (re.compile(r"Already published as version (\d+); nothing has changed since\."),
     lambda m: _("Already published as version %(v)s; nothing has changed since.", v=m[1])),
    (re.compile(r"Only the secretariat or the authority's leader may publish the results\."),
     lambda m: _("Only the secretariat or the authority's leader may publish the results.")),
]


def translate(message) -> str:
    """``message`` (a domain message in English) in the current language, when its shape is known."""
    if isinstance(message, Message):
        return said(message)
    text = str(message)
    for pattern, render in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return render(match)
    return text


def said(message: Message) -> str:
    """A message the workflow layer marked (``N_``) in the current language, its parameters put in."""
    params = {k: said(v) if isinstance(v, Message) else v for k, v in message.params.items()}
    return _(message.msgid, **params)


def file_place(path) -> str:
    """Where in a file a problem is: a field path as written (``stages[2].due``); a line or byte translated."""
    return said(path) if isinstance(path, Message) else path


def init_app(app) -> None:
    app.jinja_env.filters["domain"] = translate
    app.jinja_env.filters["file_place"] = file_place
