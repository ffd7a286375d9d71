"""API fixtures: the `world` (communes 10001/10002, case of 10001 in self-assessment) with a token per user."""

from __future__ import annotations

import pytest

from tests.web.conftest import fresh_g_per_request  # noqa: F401  (one g per request, as in production)
from workflow import api_tokens
from workflow.clock import utcnow


@pytest.fixture
def tokens(world, db):
    """A raw token per user of the world: officer_a, chair_a, officer_b, secretariat, head, leader, auditor,
    admin, council (its first member)."""
    users = {"officer_a": world.officers["10001"], "chair_a": world.chairs["10001"],
             "officer_b": world.officers["10002"], "secretariat": world.secretariat, "head": world.head,
             "leader": world.leader, "auditor": world.auditor, "admin": world.admin, "council": world.council[0]}
    raw = {role: api_tokens.create_token(user, f"test {role}", now=utcnow())[1] for role, user in users.items()}
    db.session.commit()
    return raw


@pytest.fixture
def api(app, tokens):
    """``api(role).get(url)``: a test client sending that role's bearer token."""

    class Client:
        def __init__(self, token):
            self.client, self.token = app.test_client(), token

        def _headers(self, extra):
            return {"Authorization": f"Bearer {self.token}", **(extra or {})}

        def get(self, url, headers=None, **kw):
            return self.client.get(url, headers=self._headers(headers), **kw)

        def post(self, url, headers=None, **kw):
            return self.client.post(url, headers=self._headers(headers), **kw)

    return lambda role: Client(tokens[role])
