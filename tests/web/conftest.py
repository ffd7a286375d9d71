import pytest
from flask import g


@pytest.fixture(autouse=True)
def fresh_g_per_request(app):
    """Requests here run inside the test's app context, so ``g`` would outlive them and leak the
    logged-in user and the CSRF token from one test client to the next; production has a context per request."""

    @app.teardown_request
    def _clear(_exc=None):
        for name in list(g):
            g.pop(name)
