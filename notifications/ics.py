"""iCalendar (RFC 5545) text for deadlines: all-day VEVENTs, escaped, folded, CRLF lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

PRODID = "-//CCHC Workflow//Deadlines//VI"


@dataclass(frozen=True)
class DeadlineEvent:
    """One deadline as a calendar entry; ``uid`` stays the same for the deadline's whole life."""

    uid: str
    due: dt.date
    summary: str
    description: str = ""
    url: str | None = None


def deadline_uid(deadline_id: int | None, case_id: int | None, stage: str | None) -> str:
    """Stable per deadline row, so a calendar updates the entry instead of adding a second one."""
    if deadline_id is not None:
        return f"deadline-{deadline_id}@cchc-workflow"
    return f"case-{case_id}-{stage}@cchc-workflow"


def escape_text(value: str) -> str:
    """TEXT escaping of RFC 5545 §3.3.11."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """Fold at 75 octets (§3.1) without splitting a UTF-8 character."""
    if len(line) <= 18 or (len(line) <= 75 and line.isascii()) or len(line.encode("utf-8")) <= 75:
        return line  # most lines fit: no walk (<= 4 octets a char; ASCII: one)
    out, current, size = [], [], 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        limit = 75 if not out else 74  # continuation lines start with one space
        if size + n > limit:
            out.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += n
    out.append("".join(current))
    return "\r\n ".join(out)


# strftime costs ~15 us a call here; a sweep stamps thousands of messages with one moment and a few days
@lru_cache(maxsize=256)
def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


@lru_cache(maxsize=4096)
def _all_day(due: dt.date) -> tuple[str, str]:
    """The DTSTART and DTEND lines of an all-day event on ``due``."""
    return f"DTSTART;VALUE=DATE:{due:%Y%m%d}", f"DTEND;VALUE=DATE:{due + dt.timedelta(days=1):%Y%m%d}"


def vevent_lines(event: DeadlineEvent, now: dt.datetime) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{event.uid}",
        f"DTSTAMP:{_stamp(now)}",
        *_all_day(event.due),
        f"SUMMARY:{escape_text(event.summary)}",
        "TRANSP:TRANSPARENT",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    if event.url:
        lines.append(f"URL:{event.url}")
    lines.append("END:VEVENT")
    return lines


@lru_cache(maxsize=64)
def _head(name: str | None, method: str | None) -> str:
    """The calendar's lines before its events, folded, CRLF line ends (the same for every e-mail)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
    if method:
        lines.append(f"METHOD:{method}")
    if name:
        lines.append(f"X-WR-CALNAME:{escape_text(name)}")
    return "".join(fold(line) + "\r\n" for line in lines)


def calendar(events: Iterable[DeadlineEvent], *, now: dt.datetime, name: str | None = None,
             method: str | None = "PUBLISH") -> str:
    """A VCALENDAR with one all-day VEVENT per deadline, CRLF line ends."""
    body = "".join(fold(line) + "\r\n" for event in events for line in vevent_lines(event, now))
    return _head(name, method) + body + "END:VCALENDAR\r\n"
