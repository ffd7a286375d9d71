"""Render e-mails from Jinja templates (vi and en) with a standalone Environment.

No Flask request or app context is needed: the scheduler process renders too.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import escape

from states import STAGE_TITLES_EN, STAGE_TITLES_VI, Stage

from . import ics

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOCALES = ("vi", "en")
KINDS = ("reminder", "overdue", "escalation", "digest", "notice", "anchor")

# Blocker reasons (workflow.guards) -> the sentence a commune officer understands.
# (one, many): Vietnamese has no plural
MISSING_PHRASES = {
    "evidence required": {"vi": ("tiêu chí thành phần chưa có tài liệu kiểm chứng",) * 2,
                          "en": ("sub-criterion has no evidence", "sub-criteria have no evidence")},
    "no score": {"vi": ("tiêu chí thành phần chưa được chấm điểm",) * 2,
                 "en": ("sub-criterion has no score", "sub-criteria have no score")},
    "not appraised": {"vi": ("tiêu chí thành phần chưa được thẩm định",) * 2,
                      "en": ("sub-criterion is not appraised", "sub-criteria are not appraised")},
    "no survey points": {"vi": ("tiêu chí thành phần chưa có điểm điều tra xã hội học",) * 2,
                         "en": ("sub-criterion has no survey points", "sub-criteria have no survey points")},
}
OTHER_PHRASE = {"vi": ("mục khác cần hoàn thiện",) * 2, "en": ("other item to complete", "other items to complete")}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    ics: str | None = None


def locale_of(value: str | None) -> str:
    """The user's locale if we have templates for it; Vietnamese otherwise."""
    value = (value or "vi").lower()[:2]
    return value if value in LOCALES else "vi"


def ddmmyyyy(value) -> str:
    """Vietnamese date order: 10/11/2023."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return value.strftime("%d/%m/%Y")


def stage_title(stage: str | None, locale: str) -> str:
    if not stage:
        return ""
    if stage == "remediation":  # a remediation item's deadline (workflow.remediation)
        return "Kế hoạch khắc phục" if locale == "vi" else "Remediation plan"
    try:
        key = Stage(stage)
    except ValueError:
        return stage
    return (STAGE_TITLES_VI if locale == "vi" else STAGE_TITLES_EN)[key]


@lru_cache(maxsize=1)
def environment() -> Environment:
    """One Environment per process; HTML templates are autoescaped, text templates are not."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with the code: no stat() of each file on every message
    )
    env.filters["ddmmyyyy"] = ddmmyyyy
    env.globals["count"] = count
    return env


def count(n: int, one: str, many: str) -> str:
    """English ``n`` with its noun: "1 working day", "3 working days" (Vietnamese has no plural)."""
    return f"{n} {one if n == 1 else many}"


# workflow.signoff's blocker while the council considers a transition
_AWAITING = re.compile(r"awaiting council sign-off of '\w+': (\d+) of (\d+) approvals needed \((\d+) members\)"
                       r"(?:; chair (approved|not yet signed))?")


def _other_blocker(text: str, locale: str) -> str:
    match = _AWAITING.fullmatch(text)
    if match is None:
        return text
    have, needed, members, chair = match.groups()
    if locale == "vi":
        chair_text = {"approved": "; Chủ tịch đã đồng ý", "not yet signed": "; Chủ tịch chưa ký"}.get(chair, "")
        return f"đang chờ Hội đồng ký duyệt ({have}/{needed} phiếu đồng ý cần có, {members} thành viên{chair_text})"
    chair_text = {"approved": "; the chair approved", "not yet signed": "; the chair has not signed yet"}.get(chair, "")
    return f"awaiting the council's sign-off ({have} of {needed} approvals needed, {members} members{chair_text})"


def summarise_missing(missing: list[str], locale: str) -> list[tuple[int, str, list[str]]]:
    """``["1.1.1: evidence required", ...]`` -> ``[(14, "tiêu chí thành phần chưa có ...", ["1.1.1", ...])]``."""
    groups: dict[str, list[str]] = {}
    for entry in missing:
        code, _, reason = entry.partition(":")
        reason = reason.strip()
        if reason in MISSING_PHRASES:
            groups.setdefault(reason, []).append(code.strip())
        else:  # another blocker: a known one in the reader's language, any other as written
            groups.setdefault("", []).append(_other_blocker(entry.strip(), locale))
    out = [(len(codes), MISSING_PHRASES[r][locale][len(codes) != 1], codes) for r, codes in groups.items() if r]
    if "" in groups:
        out.append((len(groups[""]), OTHER_PHRASE[locale][len(groups[""]) != 1], groups[""]))
    return out


def case_url(base_url: str, case_id: int | None) -> str | None:
    if case_id is None:
        return None
    return f"{base_url.rstrip('/')}/cases/{case_id}"


def _one_line(value: str) -> str:
    # a subject is one header line: newlines in a commune name must not inject headers
    return " ".join(value.split())


def render_case_message(*, kind: str, locale: str, level: int, facts: dict, base_url: str,
                        recipient_name: str, deadline_id: int | None, now: dt.datetime) -> Rendered:
    """Subject, text, HTML and the deadline's .ics for a reminder, overdue notice or escalation."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    locale = locale_of(locale)
    env = environment()
    due = _due_of(facts)
    texts = _texts(recipient_name, facts, base_url, locale)
    context = _context(kind, level, locale, facts, due, texts)
    subject = _one_line(env.get_template(f"{locale}/case_subject.txt").render(context))
    text = env.get_template(f"{locale}/case.txt").render(context)
    html = env.get_template(f"{locale}/case.html").render(context)
    return Rendered(subject=subject, text=text, html=html,
                    ics=_deadline_ics(locale, facts, due, texts, deadline_id, now))


def _due_of(facts: dict) -> dt.date | None:
    due = facts.get("due")
    return dt.date.fromisoformat(due) if isinstance(due, str) else due


def _texts(recipient_name: str, facts: dict, base_url: str, locale: str) -> dict[str, str]:
    """The texts a case message prints as given, by name (in ``CaseMessages.SLOTS`` order); the deadline's
    explanation in ``locale`` when the facts carry it in Vietnamese too."""
    explanation = (locale == "vi" and facts.get("explanation_vi")) or facts.get("explanation") or ""
    return {"recipient_name": recipient_name, "commune_name": facts.get("commune_name") or "",
            "campaign_key": facts.get("campaign_key") or "", "case_url": case_url(base_url, facts.get("case_id")),
            "explanation": explanation, "reason": facts.get("reason") or ""}


def _context(kind: str, level: int, locale: str, facts: dict, due: dt.date | None, texts: dict) -> dict:
    """What the case message templates are rendered with (``texts``: the given texts, or their slots)."""
    missing = list(facts.get("missing") or [])
    return {
        "kind": kind,
        "level": level,
        "recipient_name": texts["recipient_name"],
        "commune_name": texts["commune_name"],
        "campaign_key": texts["campaign_key"],
        "stage": facts.get("stage"),
        "stage_title": stage_title(facts.get("stage"), locale),
        "due": due,
        "plan_due": facts.get("plan_due"),
        "explanation": texts["explanation"],
        "working_days_left": facts.get("working_days_left"),
        "days_late": facts.get("days_late"),
        "missing_summary": summarise_missing(missing, locale),
        "missing": missing,
        "case_url": texts["case_url"],
        "reason": texts["reason"],
    }


def _deadline_ics(locale: str, facts: dict, due: dt.date | None, texts: dict, deadline_id: int | None,
                  now: dt.datetime) -> str | None:
    """The deadline's calendar entry attached to a case message (None without a due date)."""
    if due is None:
        return None
    title = stage_title(facts.get("stage"), locale)
    commune, url = texts["commune_name"], texts["case_url"]
    summary = f"Hạn {title} — {commune}" if locale == "vi" else f"Due: {title} — {commune}"
    event = ics.DeadlineEvent(
        uid=ics.deadline_uid(deadline_id, facts.get("case_id"), facts.get("stage")),
        due=due, summary=summary, description="\n".join(x for x in (texts["explanation"], url) if x), url=url)
    return ics.calendar([event], now=now)


class CaseMessages:
    """``render_case_message`` for many messages: each distinct shape rendered once, then filled in.

    A shape is everything the templates branch on or format (kind, level, locale, stage, dates, day
    counts, the missing items, which texts are empty). The texts they print as given (recipient,
    commune, campaign, link, explanation, reason) go into the shape's slots, escaped for HTML exactly
    as Jinja's autoescape does, so a message is the same string ``render_case_message`` gives. One
    instance per sweep: a batch of reminders for the same due day and stage shares one shape.
    """

    SLOTS = ("recipient_name", "commune_name", "campaign_key", "case_url", "explanation", "reason")
    _SLOT = re.compile("\x00([0-9])\x00")
    MAX_SHAPES = 1000

    def __init__(self):
        self._shapes: dict[tuple, tuple] = {}
        self._ics: tuple[tuple, str | None] | None = None

    def __call__(self, *, kind: str, locale: str, level: int, facts: dict, base_url: str,
                 recipient_name: str, deadline_id: int | None, now: dt.datetime) -> Rendered:
        if kind not in KINDS:
            raise ValueError(f"unknown message kind {kind!r}")
        locale = locale_of(locale)
        due = _due_of(facts)
        texts = _texts(recipient_name, facts, base_url, locale)
        values = tuple(texts.values())
        # an empty text goes into the shape itself (a template may test it); a given one into a slot
        key = (kind, locale, level, facts.get("stage"), due, facts.get("plan_due"), facts.get("working_days_left"),
               facts.get("days_late"), tuple(facts.get("missing") or ()),
               tuple(True if v else v for v in values))
        shape = self._shapes.get(key)
        if shape is None:
            if len(self._shapes) >= self.MAX_SHAPES:
                self._shapes.clear()
            shape = self._shapes[key] = self._shape(kind, locale, level, facts, due, values)
        subject, text, html = shape
        rendered_subject = _one_line(_fill(subject, values))
        body = _fill(text, values)
        markup = _fill(html, [escape(v) for v in values])
        return Rendered(subject=rendered_subject, text=body, html=markup,
                        ics=self._attachment(locale, facts, due, texts, deadline_id, now))

    def _shape(self, kind, locale, level, facts, due, values) -> tuple:
        env = environment()
        slots = {name: (f"\x00{i}\x00" if v else v) for i, (name, v) in enumerate(zip(self.SLOTS, values, strict=True))}
        context = _context(kind, level, locale, facts, due, slots)
        return tuple(self._SLOT.split(env.get_template(f"{locale}/{name}").render(context))
                     for name in ("case_subject.txt", "case.txt", "case.html"))

    def _attachment(self, locale, facts, due, texts, deadline_id, now) -> str | None:
        """The deadline's .ics, as ``render_case_message`` builds it; kept while the same one recurs."""
        if due is None:
            return None
        key = (locale, facts.get("stage"), facts.get("case_id"), due, texts["commune_name"], texts["explanation"],
               texts["case_url"], deadline_id, now)
        if self._ics is not None and self._ics[0] == key:
            return self._ics[1]
        attachment = _deadline_ics(locale, facts, due, texts, deadline_id, now)
        self._ics = (key, attachment)
        return attachment


def _fill(parts: list[str], values: list[str]) -> str:
    """A shape split at its slots (text, slot number, text, ...) with the slots' values put in."""
    if len(parts) == 1:
        return parts[0]
    out = list(parts)
    for i in range(1, len(out), 2):
        out[i] = values[int(out[i])]
    return "".join(out)


def render_digest(*, locale: str, recipient_name: str, day: dt.date, overdue: list[dict], due_soon: list[dict],
                  base_url: str, feed_url: str | None = None) -> Rendered:
    """The secretariat's daily digest: overdue and due-soon cases (dicts with the case facts)."""
    locale = locale_of(locale)
    env = environment()
    for row in (*overdue, *due_soon):
        row.setdefault("case_url", case_url(base_url, row.get("case_id")))
        row.setdefault("stage_title", stage_title(row.get("stage"), locale))
    context = {"recipient_name": recipient_name, "day": day, "overdue": overdue, "due_soon": due_soon,
               "feed_url": feed_url}
    subject = _one_line(env.get_template(f"{locale}/digest_subject.txt").render(context))
    text = env.get_template(f"{locale}/digest.txt").render(context)
    html = env.get_template(f"{locale}/digest.html").render(context)
    return Rendered(subject=subject, text=text, html=html)


def render_anchor(*, locale: str, recipient_name: str, day: dt.date, checked_at: str, ok: bool, checked: int,
                  first_bad_seq: int | None, anchor: str, integrity_url: str) -> Rendered:
    """The auditors' daily anchor: the result of the system's own chain check and the check's SEQ:HASH (what
    is wrong with a broken chain is on the integrity page, in the reader's language)."""
    locale = locale_of(locale)
    env = environment()
    context = {"recipient_name": recipient_name, "day": day, "checked_at": checked_at, "ok": ok,
               "checked": f"{checked:,}".replace(",", "." if locale == "vi" else ","),
               "first_bad_seq": first_bad_seq, "anchor": anchor,
               "integrity_url": integrity_url}
    subject = _one_line(env.get_template(f"{locale}/anchor_subject.txt").render(context))
    text = env.get_template(f"{locale}/anchor.txt").render(context)
    html = env.get_template(f"{locale}/anchor.html").render(context)
    return Rendered(subject=subject, text=text, html=html)
