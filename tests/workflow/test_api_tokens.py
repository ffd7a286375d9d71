"""Personal API tokens: shown once, stored hashed, refused once revoked or when the user is disabled."""

import datetime as dt

import pytest
from sqlalchemy import select

from models import ApiToken, AuditEvent
from workflow import api_tokens
from workflow.errors import InvalidInput, NotFound


@pytest.fixture
def make(make):
    make.campaign()  # communes 10001/10002 with their officers, the secretariat, the admin
    return make


def test_create_authenticate_revoke(make, db, now):
    user = make.officers["10001"]
    row, raw = api_tokens.create_token(user, "  portal sync ", now=now)
    db.session.commit()
    assert raw.startswith("cchc_") and len(raw) > 40
    stored = db.session.scalars(select(ApiToken)).one()
    assert stored.name == "portal sync" and stored.token_sha256 == api_tokens.digest(raw)
    assert raw not in stored.token_sha256
    later = now + dt.timedelta(hours=1)
    assert api_tokens.authenticate(raw, now=later) is user
    assert stored.last_used_at == later
    assert api_tokens.authenticate(raw + "x", now=later) is None
    assert api_tokens.authenticate("", now=later) is None
    assert api_tokens.tokens_of(user) == [row]
    api_tokens.revoke_token(user, row.id, now=later)
    db.session.commit()
    assert api_tokens.authenticate(raw, now=later) is None
    assert api_tokens.tokens_of(user) == []
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("api_token.%"))
                                .order_by(AuditEvent.seq)).all()
    assert [e.action for e in events] == ["api_token.created", "api_token.revoked"]
    # the audit trail never holds the token or its hash
    assert all(raw not in str(e.after) and stored.token_sha256 not in str(e.after) for e in events)


def test_disabled_user_token_refused(make, db, now):
    user = make.secretariat
    _row, raw = api_tokens.create_token(user, "script", now=now)
    user.active = False
    db.session.commit()
    assert api_tokens.authenticate(raw, now=now) is None


def test_only_own_live_tokens_can_be_revoked(make, db, now):
    owner, other = make.officers["10001"], make.officers["10002"]
    row, _raw = api_tokens.create_token(owner, "mine", now=now)
    db.session.commit()
    with pytest.raises(NotFound):
        api_tokens.revoke_token(other, row.id, now=now)
    api_tokens.revoke_token(owner, row.id, now=now)
    with pytest.raises(NotFound):
        api_tokens.revoke_token(owner, row.id, now=now)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_name_required_and_bounded(make, name, now):
    with pytest.raises(InvalidInput) as exc:
        api_tokens.create_token(make.admin, name, now=now)
    assert "name" in exc.value.errors
