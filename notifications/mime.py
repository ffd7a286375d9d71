"""An outbox message as the bytes that go over SMTP, written directly.

What Flask-Mail's ``Message`` builds (multipart/mixed: text and HTML alternatives, the .ics attached;
base64 bodies; the same header encoding through Flask-Mail's own ``sanitize_*``), without the
``email`` package's generator and SMTP policy, which cost ~4 ms a message and capped delivery at
a few hundred messages a second. Lines end in CRLF, as SMTP wants.
"""

from __future__ import annotations

import base64
import hashlib
import time
from email import quoprimime
from email.utils import formatdate
from functools import lru_cache

from flask_mail import sanitize_address, sanitize_subject

ICS_NAME = "han-chot.ics"
ICS_TYPE = "text/calendar; charset=utf-8; method=PUBLISH"


# the same few addresses recur in every batch; the encoding is a pure function of its input
address = lru_cache(maxsize=4096)(sanitize_address)


# bytes the email package's Q encoding writes as themselves (the others take three characters: =XX)
_Q_PLAIN = bytes(b for b in range(256) if len(quoprimime._QUOPRI_HEADER_MAP[b]) == 1)
_Q_ASCII_WIDTH = [1 if b in _Q_PLAIN else 3 for b in range(128)]
# encoded text a word holds: a word and its 12 characters of chrome (=?utf-8?b?...?=) fill a line of
# email.header.MAXLINELEN (78); the lines after the first start with the folding space
_FIRST_WORD, _NEXT_WORD = 78 - 12, 78 - 1 - 12


def subject_header(subject: str) -> str:
    """Flask-Mail's ``sanitize_subject(subject, 'utf-8')``, the same text, in linear time.

    The email package (``email.header.Header``) picks B or Q encoding, whichever is shorter, then
    fills each encoded word greedily, character by character, re-encoding the whole word each time
    (45-90 µs a subject). Here each character's encoded width is added instead. Strings the package
    would split into lines (``str.splitlines``) go to Flask-Mail itself.
    """
    if subject.isascii():
        return subject
    try:
        raw = subject.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: whatever the package makes of it
        return sanitize_subject(subject, "utf-8")
    if subject.splitlines() != [subject]:
        return sanitize_subject(subject, "utf-8")
    q_text = len(raw) + 2 * len(raw.translate(None, _Q_PLAIN))
    use_b = (len(raw) + 2) // 3 * 4 < q_text
    words, start, size, limit = [], 0, 0, _FIRST_WORD  # size: bytes (B) or encoded characters (Q) so far
    for end, char in enumerate(subject):
        point = ord(char)
        if point < 0x80:
            width = 1 if use_b else _Q_ASCII_WIDTH[point]
        else:
            width = 2 if point < 0x800 else 3 if point < 0x10000 else 4
            width = width if use_b else 3 * width
        if ((size + width + 2) // 3 * 4 if use_b else size + width) > limit:
            words.append(subject[start:end])
            start, size, limit = end, 0, _NEXT_WORD
        size += width
    words.append(subject[start:])
    if use_b:
        return "\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words)
    return "\n ".join(quoprimime.header_encode(w.encode("utf-8"), "utf-8") for w in words)


@lru_cache(maxsize=4)
def _date(second: int) -> str:
    """The Date header of a second (~10 µs to format; a batch composes many messages in the same second)."""
    return formatdate(second, localtime=True)


def _b64(text: str) -> bytes:
    # 76-character lines (RFC 2045), CRLF-terminated
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")


def _has_newline(value: str) -> bool:
    return "\n" in value or "\r" in value


def compose(*, sender: str | tuple[str, str], recipient: str, subject: str, text: str, html: str | None,
            ics: str | None, message_id: str, extra_headers: dict[str, str], date: float | None = None) -> bytes:
    """The whole message; ValueError for a header that would carry a line break (header injection)."""
    for value in (recipient, subject, *extra_headers.values(),
                  *(sender if isinstance(sender, tuple) else (sender,))):
        if _has_newline(value):
            raise ValueError("a header value contains a line break")
    # a boundary holds '_' and '.', which base64 never does: no body line can be mistaken for one
    tag = hashlib.sha1(message_id.encode("utf-8")).hexdigest()[:24]
    mixed, alternative = f"=_mixed.{tag}", f"=_alt.{tag}"
    head = [
        f'Content-Type: multipart/mixed; boundary="{mixed}"',
        "MIME-Version: 1.0",
        f"Subject: {subject_header(subject)}",
        f"From: {address(sender)}",
        f"To: {address(recipient)}",
        f"Date: {_date(int(date if date is not None else time.time()))}",
        f"Message-ID: {message_id}",
        *(f"{name}: {value}" for name, value in extra_headers.items()),
    ]
    parts = [
        # Header.encode folds long encoded words with a bare LF; SMTP wants CRLF
        ("\r\n".join(head).replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n\r\n").encode("ascii"),
        f"--{mixed}\r\n".encode("ascii"),
    ]
    if html is not None:
        parts.append(f'Content-Type: multipart/alternative; boundary="{alternative}"\r\n'
                     f"MIME-Version: 1.0\r\n\r\n--{alternative}\r\n".encode("ascii"))
    parts.append(b'Content-Type: text/plain; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
                 b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(text or ""))
    if html is not None:
        parts.append(f"--{alternative}\r\n".encode("ascii"))
        parts.append(b'Content-Type: text/html; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
                     b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(html))
        parts.append(f"--{alternative}--\r\n".encode("ascii"))
    if ics:
        parts.append(f"--{mixed}\r\n".encode("ascii"))
        parts.append(f"Content-Type: {ICS_TYPE}\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n"
                     f'Content-Disposition: attachment; filename="{ICS_NAME}"\r\n\r\n'.encode("ascii") + _b64(ics))
    parts.append(f"--{mixed}--\r\n".encode("ascii"))
    return b"".join(parts)
