"""One's own account: the private calendar link (shown once, revocable), language, password."""

import re

from sqlalchemy import select

from models import AuditEvent
from tests.web.helpers import PASSWORD, csrf_of, logged_in, login
from workflow.clock import utcnow


def _token(client, url="/account") -> str:
    return csrf_of(client.get(url).get_data(as_text=True))


def test_calendar_link_shown_once_works_and_can_be_stopped(app, world, db):
    officer = world.officers["10001"]
    client = logged_in(app, officer)
    assert 'data-live-links="0"' in client.get("/account").get_data(as_text=True)
    response = client.post("/account/calendar", data={"csrf_token": _token(client)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    link = re.search(r'id="feed-link" readonly value="([^"]+)"', response.get_data(as_text=True)).group(1)
    path = link[link.index("/ical/"):]
    feed = app.test_client().get(path)  # no log-in: the link itself is the secret
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in feed.get_data(as_text=True) and "Xã 10001" in feed.get_data(as_text=True)
    # shown once: the page now only says a link exists
    page = client.get("/account").get_data(as_text=True)
    assert 'data-live-links="1"' in page and path not in page
    # a new link replaces the old one
    client.post("/account/calendar", data={"csrf_token": _token(client)})
    assert app.test_client().get(path).status_code == 404
    client.post("/account/calendar/revoke", data={"csrf_token": _token(client)})
    assert 'data-live-links="0"' in client.get("/account").get_data(as_text=True)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.subject == officer.email)).all()
    assert actions.count("feed.token_issued") == 2 and "feed.token_revoked" in actions


def test_calendar_link_needs_csrf(app, world):
    client = logged_in(app, world.officers["10001"])
    assert client.post("/account/calendar").status_code == 400


def test_language_preference_is_saved_and_audited(app, world, db):
    client = logged_in(app, world.secretariat)
    response = client.post("/account/language", data={"locale": "en", "csrf_token": _token(client)})
    assert response.status_code == 303
    db.session.refresh(world.secretariat)
    assert world.secretariat.locale == "en"
    assert '<html lang="en">' in client.get("/account").get_data(as_text=True)
    bad = client.post("/account/language", data={"locale": "fr", "csrf_token": _token(client)})
    assert bad.status_code == 400 and 'data-error-for="locale"' in bad.get_data(as_text=True)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.updated",
                                                        AuditEvent.subject == world.secretariat.email)).one()
    assert event.after == {"locale": "en"}


def test_password_change_needs_the_current_one(app, world, db):
    officer = world.officers["10001"]
    client = logged_in(app, officer)
    wrong = client.post("/account/password", data={"current": "nope", "new": "mot-mat-khau-moi", "repeat":
                                                   "mot-mat-khau-moi", "csrf_token": _token(client)})
    assert wrong.status_code == 400 and 'data-error-for="current"' in wrong.get_data(as_text=True)
    differ = client.post("/account/password", data={"current": PASSWORD, "new": "mot-mat-khau-moi",
                                                    "repeat": "khac-hoan-toan", "csrf_token": _token(client)})
    assert differ.status_code == 400 and 'data-error-for="repeat"' in differ.get_data(as_text=True)
    short = client.post("/account/password", data={"current": PASSWORD, "new": "ngan", "repeat": "ngan",
                                                   "csrf_token": _token(client)})
    assert short.status_code == 400 and 'data-error-for="password"' in short.get_data(as_text=True)
    ok = client.post("/account/password", data={"current": PASSWORD, "new": "mot-mat-khau-moi",
                                                "repeat": "mot-mat-khau-moi", "csrf_token": _token(client)})
    assert ok.status_code == 303
    assert login(app.test_client(), officer.email).status_code == 401
    assert login(app.test_client(), officer.email, "mot-mat-khau-moi").status_code == 302
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.password_set")).one()
    assert event.after == {"password_changed": True} and event.actor_id == officer.id


def test_account_needs_log_in(app, world):
    assert app.test_client().get("/account").status_code == 302


def test_api_token_created_shown_once_listed_and_revoked(app, world, db):
    from models import ApiToken
    from workflow import api_tokens

    officer = world.officers["10001"]
    client = logged_in(app, officer)
    assert 'data-api-tokens="0"' in client.get("/account").get_data(as_text=True)
    response = client.post("/account/api-tokens", data={"name": "cổng tỉnh", "csrf_token": _token(client)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    raw = re.search(r'id="new-api-token" readonly value="([^"]+)"', response.get_data(as_text=True)).group(1)
    assert raw.startswith("cchc_") and api_tokens.authenticate(raw, now=utcnow()) == officer
    row = db.session.scalars(select(ApiToken)).one()
    page = client.get("/account").get_data(as_text=True)
    assert raw not in page and 'data-api-tokens="1"' in page and f'data-token-id="{row.id}"' in page
    assert "cổng tỉnh" in page
    # another user cannot stop it (404), its owner can
    other = logged_in(app, world.officers["10002"])
    assert other.post(f"/account/api-tokens/{row.id}/revoke", data={"csrf_token": _token(other)}).status_code == 404
    done = client.post(f"/account/api-tokens/{row.id}/revoke", data={"csrf_token": _token(client)})
    assert done.status_code == 303
    assert api_tokens.authenticate(raw, now=utcnow()) is None
    assert 'data-api-tokens="0"' in client.get("/account").get_data(as_text=True)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("api_token.%"))).all()
    assert sorted(actions) == ["api_token.created", "api_token.revoked"]


def test_api_token_needs_a_name_and_csrf(app, world, db):
    from models import ApiToken

    client = logged_in(app, world.secretariat)
    assert client.post("/account/api-tokens", data={"name": "x"}).status_code == 400
    bad = client.post("/account/api-tokens", data={"name": "  ", "csrf_token": _token(client)})
    assert bad.status_code == 400 and 'data-error-for="name"' in bad.get_data(as_text=True)
    assert db.session.scalars(select(ApiToken)).all() == []
