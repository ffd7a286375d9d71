"""The API documentation page in a real browser: Swagger UI renders every resource from vendored files,
with no CSP violation and no request to another site."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_docs_page_renders_every_resource_in_a_browser_without_csp_violations(page, live_server):
    problems, remote = [], []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: remote.append(req.url) if not req.url.startswith(live_server.url) else None)
    page.goto("/api/v1/docs")
    page.wait_for_selector(".opblock-tag", timeout=15_000)
    tags = page.locator(".opblock-tag").all_inner_texts()
    assert any("communes" in t.lower() for t in tags) and any("cases" in t.lower() for t in tags)
    assert page.locator(".info .title").inner_text().startswith("CCHC Workflow API")
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    assert remote == []  # nothing from another site (no CDN, no public validator)
