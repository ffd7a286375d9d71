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
from email.utils import formatdate
from functools import lru_cache

from flask_mail import sanitize_address, sanitize_subject

ICS_NAME = "han-chot.ics"
ICS_TYPE = "text/calendar; charset=utf-8; method=PUBLISH"


# the same few addresses recur in every batch; the encoding is a pure function of its input
address = lru_cache(maxsize=4096)(sanitize_address)


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
        f"Subject: {sanitize_subject(subject, 'utf-8')}",
        f"From: {address(sender)}",
        f"To: {address(recipient)}",
        f"Date: {formatdate(date if date is not None else time.time(), localtime=True)}",
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
