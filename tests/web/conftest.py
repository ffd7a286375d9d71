import pytest
from flask import g

from states import Stage
from tests.web.helpers import password_hash


@pytest.fixture(autouse=True)
def fresh_g_per_request(app):
    """Requests here run inside the test's app context, so ``g`` would outlive them and leak the
    logged-in user and the CSRF token from one test client to the next; production has a context per request."""

    @app.teardown_request
    def _clear(_exc=None):
        for name in list(g):
            g.pop(name)


@pytest.fixture
def world(make, db):
    """A two-commune campaign whose every user has ``PASSWORD``; commune 10001's case is in self-assessment."""
    campaign = make.campaign()
    for user in (*make.officers.values(), *make.chairs.values(), make.secretariat, make.head, make.leader,
                 *make.council, make.auditor, make.admin):
        user.password_hash = password_hash()
    a = make.case_of(campaign, "10001")
    make.advance(a, Stage.self_assessment)
    db.session.commit()
    return make
