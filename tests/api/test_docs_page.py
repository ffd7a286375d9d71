"""The API documentation page (/api/v1/docs): Swagger UI from vendored files only, working under the CSP.

Its run in a real browser is tests/browser/test_api_docs_page.py (one browser fixture for the whole run)."""

from __future__ import annotations

import re
from pathlib import Path

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
