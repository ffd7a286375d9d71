"""Real-browser fixtures: the real app served on 127.0.0.1 in a thread, driven by Debian's chromium.

The app and the test share one migrated database (SQLite, or PostgreSQL via TEST_DATABASE_URL):
build data with the factory, commit, then let the browser act. Playwright's own browser download is
never used; without /usr/bin/chromium every test here is skipped with the reason.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config, items):
    """Without Debian's chromium every browser test is skipped, saying why (never Playwright's download).
    Any test that uses the browser is a browser test, whether or not its module says so."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        # on CI the browser tests are part of the bar: a missing browser is a failure, not a skip
        raise pytest.UsageError(f"CI: Debian's chromium is required at {CHROMIUM} for the browser tests")
    skip = pytest.mark.skip(reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


class LiveServer:
    """The app behind werkzeug's threaded server; remembers any exception a request raised."""

    def __init__(self, app):
        self.app = app
        self.errors: list[BaseException] = []
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)

    def _wsgi(self, environ, start_response):
        try:
            return self.app.wsgi_app(environ, start_response)
        except BaseException as exc:  # a 500 in the browser must fail the test, not hide in a log
            self.errors.append(exc)
            raise

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def live_server(app, db):
    """The real app (web.create_app on the test's migrated database) served on a free local port."""
    db.session.commit()
    server = LiveServer(app).start()
    yield server
    server.stop()
    assert not server.errors, f"the server raised: {server.errors!r}"


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the whole run, with a fresh user-data dir."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # the machine is shared: allow a slow page, never sleep
    # launch() gives chromium a fresh temporary user-data dir of its own (removed on close)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """A factory of pages, each in its own context (own cookies: one per user of a test).

    The browser asks for English (Accept-Language): the app must still answer in Vietnamese by default.
    """
    contexts = []

    def open_page():
        context = browser.new_context(base_url=live_server.url, locale="en-US", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()
