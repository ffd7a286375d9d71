"""The API documentation page (/api/v1/docs): Swagger UI from vendored files only, working under the CSP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, browser, live_server, new_page, page  # noqa: F401 (fixtures)

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def test_docs_page_references_only_local_assets_and_no_inline_script(app):
    client = app.test_client()
    response = client.get("/api/v1/docs")  # public, like the OpenAPI document
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assets = ASSET.findall(html)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in assets and "/static/js/api-docs.js" in assets
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), f"not a local asset: {url}"
        served = client.get(url)
        assert served.status_code == 200, url
        served.close()  # static files are streamed: close them (warnings are errors)
    # every <script> has a src: nothing inline for the CSP to block
    assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", html))
    assert re.search(r"<script[^>]*>\s*[^<\s]", html) is None
    vendored = Path(app.static_folder) / "vendor" / "swagger-ui"
    assert (vendored / "LICENSE").is_file() and "Apache License" in (vendored / "LICENSE").read_text()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's chromium is not installed at {CHROMIUM}")
def test_docs_page_renders_every_resource_in_a_browser_without_csp_violations(page, live_server):  # noqa: F811
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
