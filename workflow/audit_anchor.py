"""Anchors: an event's place in the chain (seq) and its hash, kept outside the database.

The chain is keyless: it proves that nobody edited an event without also recomputing every later hash and
the head. Someone with write access to the database can do exactly that, and the rewritten chain verifies.
An anchor written down where that person cannot reach (the daily e-mail in each auditor's mailbox, a
printed report) closes the gap: after a rewrite reaching back before the anchor, the event at the anchor's
seq no longer carries the anchor's hash. Events after the newest anchor held are covered by the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from models import AuditEvent, AuditHead, db

from .errors import InvalidInput

MAX_ANCHORS = 100
# "12345:9f2c…" as the e-mail writes it; "seq 12345 sha256 9f2c…" and "12345 9f2c…" are read too (ASCII
# digits only: \d would also take other scripts' digits)
_ANCHOR = re.compile(r"(?:seq[ \t]*)?([0-9]{1,18})[ \t]*(?::|[ \t])[ \t]*(?:sha256[ \t]*:?[ \t]*)?([0-9a-fA-F]{64})", re.I)
CANONICAL = r"^[1-9][0-9]{0,17}:[0-9a-fA-F]{64}$"  # the API's form (its OpenAPI pattern)

MATCHES, DIFFERS, MISSING = "matches", "differs", "missing"


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str

    @property
    def text(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True)
class AnchorCheck:
    """One anchor against the chain: the event at its seq has its hash (matches), another (differs), or
    there is no event at that seq (missing: the history was cut back)."""

    seq: int
    hash: str
    status: str
    found: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == MATCHES

    def as_dict(self) -> dict:
        return {"seq": self.seq, "hash": self.hash, "status": self.status, "found": self.found}


def parse(text: str) -> Anchor:
    """One anchor, ``SEQ:HASH``; InvalidInput says what is wrong with it."""
    # copied from an HTML e-mail, the spaces may be non-breaking
    found = _ANCHOR.fullmatch((text or "").replace("\xa0", " ").strip())
    if found is None:
        raise InvalidInput(f"'{_shown(text)}' is not an anchor: write it as SEQ:HASH, the event's number, a colon and "
                           "its 64 hexadecimal digits, as the daily anchor e-mail gives it",
                           {"anchors": ["write each anchor as SEQ:HASH"]})
    seq = int(found.group(1))
    if seq < 1:
        raise InvalidInput("an anchor's seq starts at 1", {"anchors": ["seq starts at 1"]})
    return Anchor(seq, found.group(2).lower())


def parse_lines(text: str) -> list[Anchor]:
    """Anchors one per line (blank lines skipped); an error names the line."""
    lines = [(n, line) for n, line in enumerate((text or "").splitlines(), start=1) if line.strip()]
    return _parse_each(lines, "line")


def parse_many(texts: list[str]) -> list[Anchor]:
    """Anchors given one per item (the API's list, the command line's repeated option)."""
    return _parse_each(list(enumerate(texts, start=1)), "anchor")


def _parse_each(numbered: list[tuple[int, str]], label: str) -> list[Anchor]:
    if len(numbered) > MAX_ANCHORS:  # before reading any: a pasted mailbox is refused at once
        raise InvalidInput(f"at most {MAX_ANCHORS} anchors at a time ({len(numbered)} given)",
                           {"anchors": [f"at most {MAX_ANCHORS}"]})
    anchors = []
    for number, text in numbered:
        try:
            anchors.append(parse(text))
        except InvalidInput as exc:
            where = f"{label} {number}: {exc}"
            raise InvalidInput(where, {"anchors": [where]}) from None
    return list(dict.fromkeys(anchors))  # the same anchor twice is checked once, in the order given


def _shown(text: str | None) -> str:
    text = (text or "").strip()
    return text if len(text) <= 80 else text[:77] + "..."


def current() -> Anchor | None:
    """The head of the chain now (None while the log is empty)."""
    head = db.session.get(AuditHead, 1, populate_existing=True)
    return Anchor(head.seq, head.last_hash) if head is not None and head.seq else None


def check(anchors: list[Anchor]) -> list[AnchorCheck]:
    """Each anchor against the event stored at its seq (one SELECT)."""
    if not anchors:
        return []
    stored = dict(db.session.execute(select(AuditEvent.seq, AuditEvent.hash)
                                     .where(AuditEvent.seq.in_({a.seq for a in anchors}))).all())
    results = []
    for a in anchors:
        found = stored.get(a.seq)
        status = MISSING if found is None else MATCHES if found == a.hash else DIFFERS
        results.append(AnchorCheck(a.seq, a.hash, status, found))
    return results


def problem_of(results: list[AnchorCheck]) -> tuple[int, str] | None:
    """The first anchor (by seq) the chain fails, as (seq, why); None if every anchor holds."""
    failed = sorted((r for r in results if not r.ok), key=lambda r: r.seq)
    if not failed:
        return None
    first = failed[0]
    if first.status == DIFFERS:
        return first.seq, (f"the event at seq {first.seq} no longer has the hash of the anchor held outside the "
                           "database: the history up to it was rewritten")
    return first.seq, (f"there is no event at seq {first.seq}, which an anchor held outside the database records: "
                       "the history was cut back")
