"""Access control beyond the page matrix (tests/web/test_access_matrix.py): login throttling and lockout,
cookies and security headers under the production config, API tokens, an auditor on the API."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.pool import NullPool

from config import ProductionConfig
from models import ApiToken, AuditEvent, Case, Evidence, LoginFailure
from tests.web.conftest import fresh_g_per_request  # noqa: F401 - a fresh g per request (CSRF, user)
from tests.web.helpers import PASSWORD, csrf_of, logged_in, login
from web import create_app
from workflow import api_tokens, login_throttle
from workflow.clock import utcnow

LOCK_MESSAGES = ("Too many failed log-ins", "Đăng nhập sai quá nhiều lần")


def _locked_body(response) -> bool:
    body = response.get_data(as_text=True)
    return response.status_code == 429 and any(m in body for m in LOCK_MESSAGES)


def _events(db, action):
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_failures_lock_an_account_and_an_unknown_email_alike(app, world, db):
    app.config["LOGIN_MAX_FAILURES"] = 3  # 5 in production; fewer here, each wrong password costs a slow hash
    known, unknown = world.officers["10001"].email, "nobody-here@example.vn"
    answers = {}
    for email in (known, unknown):
        client = app.test_client()
        statuses = [login(client, email, "wrong-password").status_code for _ in range(3)]
        answers[email] = statuses
        # locked: even the right password is refused now, with a time to come back, for both e-mails alike
        refused = login(client, email, PASSWORD)
        assert _locked_body(refused) and int(refused.headers["Retry-After"]) > 14 * 60
    assert answers[known] == answers[unknown] == [401, 401, 429]  # no user enumeration
    locks = _events(db, "login.locked")
    assert [e.after["account"] for e in locks] == [known, unknown] and locks[0].actor == "system"
    # a second web worker (another app on the same database) sees the same lock
    other_worker = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    with other_worker.app_context():
        assert _locked_body(login(other_worker.test_client(), known, PASSWORD))
        from models import db as worker_db

        worker_db.session.remove()
        worker_db.engine.dispose()
    # another account from the same address is not affected (20 failures lock an address)
    assert logged_in(app, world.officers["10002"])


def _lock(db, email, now):
    for _ in range(5):
        login_throttle.record_failure(email, "10.1.1.1", now=now)
    db.session.commit()


def test_an_admin_unlocks_an_account_and_the_unlock_is_audited(app, world, db):
    officer = world.officers["10001"]
    _lock(db, officer.email, utcnow())
    admin = logged_in(app, world.admin)
    page = admin.get(f"/admin/users/{officer.id}").get_data(as_text=True)
    assert 'id="lockout-section"' in page
    response = admin.post(f"/admin/users/{officer.id}/unlock", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 303
    [event] = _events(db, "login.unlocked")
    assert event.actor == world.admin.email and event.subject == officer.email
    assert 'id="lockout-section"' not in admin.get(f"/admin/users/{officer.id}").get_data(as_text=True)
    assert logged_in(app, officer)
    # a non-admin may not unlock (the matrix covers every role; here the secretariat, with a valid token)
    _lock(db, officer.email, utcnow())
    secretariat = logged_in(app, world.secretariat)
    token = csrf_of(secretariat.get("/account").get_data(as_text=True))
    assert secretariat.post(f"/admin/users/{officer.id}/unlock", data={"csrf_token": token}).status_code == 403
    assert _locked_body(login(app.test_client(), officer.email, PASSWORD))


def test_an_address_is_locked_after_many_accounts_and_a_success_resets_the_account(app, world, db, now):
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 6
    attacker = app.test_client()
    for i in range(6):
        login(attacker, f"guess{i}@example.vn", "x")
    # from that address even a real account with its right password waits; another address does not
    assert _locked_body(login(attacker, world.officers["10001"].email, PASSWORD))
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    assert login(elsewhere, world.officers["10001"].email, PASSWORD).status_code == 302
    # four failures, then a success: the account's count starts afresh
    for _ in range(4):
        login_throttle.record_failure("x@example.vn", "10.0.0.9", now=now)
    login_throttle.clear_account("X@example.vn ")
    assert db.session.scalar(select(func.count(LoginFailure.id)).where(LoginFailure.account == "x@example.vn")) == 0
    # the lock ends when the oldest counted failure leaves the 15-minute window
    for minute in range(5):
        login_throttle.record_failure("y@example.vn", "10.0.0.10", now=now + dt.timedelta(minutes=minute))
    later = now + dt.timedelta(minutes=4)
    assert login_throttle.account_locked_until("y@example.vn", now=later) == now + dt.timedelta(minutes=15)
    assert login_throttle.account_locked_until("y@example.vn", now=now + dt.timedelta(minutes=15, seconds=1)) is None


def test_the_client_address_is_the_proxys_header_only_behind_a_trusted_proxy(app, world, db, database_url,
                                                                               tmp_path):
    from config import TestingConfig

    officer = world.officers["10001"].email
    # no trusted proxy (the default): a forged X-Forwarded-For changes nothing, the address stays locked
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 3
    direct = app.test_client()
    for i in range(3):
        direct.environ_base["HTTP_X_FORWARDED_FOR"] = f"198.51.100.{i}"
        login(direct, f"guess{i}@example.vn", "x")
    direct.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.99"
    assert _locked_body(login(direct, officer, PASSWORD))
    db.session.execute(text("DELETE FROM login_failures"))
    db.session.commit()

    # behind one trusted proxy (nginx on 127.0.0.1): each client's own address is counted
    proxied = create_app({**{k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()},
                          "SQLALCHEMY_DATABASE_URI": database_url, "EVIDENCE_DIR": str(tmp_path / "evidence"),
                          "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": NullPool},
                          "TRUSTED_PROXIES": 1, "LOGIN_ADDRESS_MAX_FAILURES": 3})
    attacker, colleague = proxied.test_client(), proxied.test_client()
    attacker.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.5"
    colleague.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    for i in range(3):  # each request pushes the proxied app's own context (a fresh g each time)
        login(attacker, f"guess{i}@example.vn", "x")
    assert _locked_body(login(attacker, officer, PASSWORD))  # the attacker's address is locked
    assert login(colleague, officer, PASSWORD).status_code == 302  # the office next door is not
    addresses = set(db.session.scalars(text("SELECT DISTINCT address FROM login_failures")))
    assert addresses == {"203.0.113.5"}


def _production_app(database_url, tmp_path):
    settings = {k: getattr(ProductionConfig, k) for k in dir(ProductionConfig) if k.isupper()}
    # NullPool: the production app's connections close as soon as they are returned (no pool outlives the test)
    return create_app({**settings, "SECRET_KEY": "prod-test-secret", "SQLALCHEMY_DATABASE_URI": database_url,
                       "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": NullPool},
                       "EVIDENCE_DIR": str(tmp_path / "evidence"), "SCHEDULER_IN_WEB": False})


def _cookie(set_cookies: list[str], name: str) -> str:
    [found] = [c for c in set_cookies if c.startswith(f"{name}=")]
    return found


def test_production_cookies_are_secure_httponly_samesite(app, world, database_url, tmp_path):
    prod = _production_app(database_url, tmp_path)
    with prod.app_context():
        client, https = prod.test_client(), "https://cchc.example.vn"
        page = client.get("/login", base_url=https).get_data(as_text=True)
        # over HTTPS Flask-WTF also wants a same-site Referer
        response = client.post("/login", base_url=https, headers={"Referer": f"{https}/login"}, data={
            "email": world.officers["10001"].email, "password": PASSWORD, "remember": "y",
            "csrf_token": csrf_of(page)})
        assert response.status_code == 302
        cookies = response.headers.getlist("Set-Cookie")
        for name in ("session", "remember_token"):
            flags = [f.strip().lower() for f in _cookie(cookies, name).split(";")]
            assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags, (name, flags)
        from models import db as prod_db

        prod_db.session.remove()
        prod_db.engine.dispose()


SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def _assert_headers(response, where):
    csp = response.headers.get("Content-Security-Policy", "")
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    assert directives.get("script-src") == "'self'", (where, csp)  # no 'unsafe-inline', no other hosts
    assert directives.get("frame-ancestors") == "'none'" and directives.get("object-src") == "'none'", where
    assert response.headers.get("X-Frame-Options") == "DENY", where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where


def test_security_headers_on_pages_errors_and_the_api_and_no_inline_script(app, world, db):
    case = db.session.scalar(select(Case).order_by(Case.id))
    client = logged_in(app, world.admin)
    checked = 0
    for url in ("/login", "/board", f"/cases/{case.id}", "/admin/users", "/audit", "/account", "/nowhere",
                "/cases/999999", "/static/nowhere.js"):
        response = client.get(url)
        _assert_headers(response, url)
        html = response.get_data(as_text=True)
        for attrs in SCRIPT_TAG.findall(html):  # every script is a file of this site: CSP 'self' allows it
            assert re.search(r'\bsrc="/static/', attrs), (url, attrs)
        assert not EVENT_HANDLER.search(html), url
        checked += 1
    assert client.get("/nowhere").status_code == 404
    assert client.post("/logout").status_code == 400  # no CSRF token: refused, still with the headers
    _assert_headers(client.post("/logout"), "csrf error")
    for response in (app.test_client().get("/api/v1/cases"), app.test_client().get("/api/v1/nowhere"),
                     app.test_client().post("/api/v1/cases/1/transitions/submit")):
        assert response.status_code in (401, 404)
        _assert_headers(response, response.request.path)
    assert checked == 9


def test_api_tokens_are_stored_hashed_and_revocation_is_immediate(app, world, db, dialect, now):
    officer = world.officers["10001"]
    row, raw = api_tokens.create_token(officer, "sổ tay", now=now)
    db.session.commit()
    # nowhere in the table's rows (any column) is the token itself, only its SHA-256
    dumped = " ".join(str(v) for r in db.session.execute(text("SELECT * FROM api_tokens")).all() for v in r)
    assert raw not in dumped and api_tokens.digest(raw) in dumped
    client = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    with client.get("/api/v1/cases", headers=headers) as response:
        assert response.status_code == 200
    api_tokens.revoke_token(officer, row.id, now=now)
    db.session.commit()
    with client.get("/api/v1/cases", headers=headers) as revoked:
        assert revoked.status_code == 401 and revoked.headers["Content-Type"].startswith("application/problem+json")
    assert db.session.get(ApiToken, row.id).revoked_at is not None
    db.session.remove()


def _evidence_count(db):
    return db.session.scalar(select(func.count(Evidence.id)))


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
BODIES = {"api_scores.patch_score": {"json": {"self_score": "1"}},
          "api_signoffs.decide": {"json": {"decision": "approve"}},
          "api_evidence.upload": {"data": {"code": "1.1.1"}}}  # plus a fresh PDF, below


@pytest.mark.parametrize("reader", ["auditor"])
def test_an_auditor_changes_nothing_through_the_api(app, world, db, now, reader):
    auditor = world.auditor
    _, raw = api_tokens.create_token(auditor, "audit", now=now)
    db.session.commit()
    case = db.session.scalar(select(Case).order_by(Case.id))
    values = {"case_id": str(case.id), "evidence_id": "1", "sign_off_id": "1", "code": "1.1.1",
              "name": "submit", "key": case.campaign.key, "rest": "anything"}
    client = app.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    headers["If-Match"] = client.get(f"/api/v1/cases/{case.id}", headers=headers).headers["ETag"]
    before = (db.session.scalar(select(func.count(AuditEvent.id))), case.version, case.stage, _evidence_count(db))
    posted = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: values[m.group(1)], rule.rule)
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            if rule.endpoint == "api_audit.integrity":
                continue  # records that the check ran (audit.verified); changes no case (below)
            # a valid request of its kind: refused for who asks, not for what is asked
            kind = BODIES.get(rule.endpoint, {"json": {}})
            if rule.endpoint == "api_evidence.upload":
                kind = {"data": {**kind["data"], "file": (io.BytesIO(PDF), "a.pdf", "application/pdf")}}
            response = client.open(url, method=method, headers=headers, **kind)
            assert response.status_code in (403, 404, 405), (method, url, response.status_code)
            posted += 1
    assert posted >= 5
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (db.session.scalar(select(func.count(AuditEvent.id))), case.version, case.stage,
            _evidence_count(db)) == before
    assert client.post("/api/v1/audit/integrity", headers=headers).status_code == 200
    assert [e.action for e in _events(db, "audit.verified")] == ["audit.verified"]
