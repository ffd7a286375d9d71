"""Helpers for page tests: log in through the real form, read CSRF tokens, post forms."""

from __future__ import annotations

import functools
import re

from werkzeug.security import generate_password_hash

PASSWORD = "mật-khẩu-thử-1"


@functools.cache
def password_hash() -> str:
    """``PASSWORD`` hashed once per run, test users share it. A cheap PBKDF2 (werkzeug checks whatever method
    the stored hash names): the default scrypt costs ~0.14 s CPU per log-in, and the suite logs in hundreds of
    times. Passwords the app itself sets (admin, account, sign-up) keep the app's default."""
    return generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def login(client, email, password=PASSWORD):
    page = client.get("/login")
    assert page.status_code == 200
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_of(page.get_data(as_text=True))})


def logged_in(app, user, password=PASSWORD):
    """A fresh test client logged in as ``user``."""
    client = app.test_client()
    response = login(client, user.email, password)
    assert response.status_code == 302, f"log-in as {user.email} failed"
    return client


def post_form(client, page_url: str, action_url: str, data: dict, **kwargs):
    """GET ``page_url`` for a CSRF token, then POST ``data`` (plus the token) to ``action_url``."""
    token = csrf_of(client.get(page_url).get_data(as_text=True))
    return client.post(action_url, data={**data, "csrf_token": token}, **kwargs)


def version_of(html: str) -> int:
    """The case version a page's form carries (hidden field ``version``)."""
    return int(re.search(r'name="version" value="(\d+)"', html).group(1))


def item_block(html: str, code: str) -> str:
    """The HTML of one sub-criterion's block on the self-assessment or appraisal form."""
    match = re.search(rf'<article[^>]*id="item-{re.escape(code)}".*?</article>', html, re.S)
    assert match, f"no block for {code}"
    return match.group(0)
