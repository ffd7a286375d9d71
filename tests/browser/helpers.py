"""Browser-test helpers: log in and out through the real form, full-page screenshots as artifacts."""

from __future__ import annotations

import re
from pathlib import Path

from tests.web.helpers import PASSWORD

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

