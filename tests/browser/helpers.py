"""Browser-test helpers: log in and out through the real form, full-page screenshots as artifacts."""

from __future__ import annotations

import re
from pathlib import Path

from tests.web.helpers import PASSWORD, password_hash  # noqa: F401 (re-exported for the browser tests)

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def log_in(page, email: str, password: str = PASSWORD) -> None:
    """Log in through the real form and wait until the app has let us in."""
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def log_out(page) -> None:
    page.click("header form button[type=submit]")
    page.wait_for_url(re.compile(r"/login"))


def screenshot(page, name: str) -> Path:
    """A full-page PNG under tests/artifacts/ (ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    page.screenshot(path=str(target), full_page=True)
    return target



def small_pdf(text: str = "Ke hoach CCHC 2023") -> bytes:
    """A small but real one-page PDF (valid xref table) saying ``text``."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
