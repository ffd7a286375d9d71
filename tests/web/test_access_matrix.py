"""The access matrix, taken from the app's own URL map so that a new route cannot slip past it.

- A commune officer (or chair) of commune A gets 403 or 404 on every page, file and action that names
  something of commune B, and nothing changes; pages they may open never show commune B.
- An auditor can change nothing: every POST route leaves the database as it was.
- A council member of another campaign sees nothing of this one.

Every route parameter must have a value below: a new route with a new parameter fails here until
someone decides what "commune B's" value of it is.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Case, Commune, CouncilSeat, Evidence, Signature, SignOff, User
from states import TRANSITIONS, Stage
from tests.web.helpers import csrf_of, logged_in, password_hash
from workflow import cases, evidence

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

# Routes outside the matrix, and why.
NOT_CASE_DATA = {
    "static",  # vendored CSS/JS
    "auth.login",  # public by design
    "auth.logout",  # ends one's own session
    "i18n.switch",  # one's own language
    "health.healthz",  # database reachability and the scheduler's last sweep, nothing about a case
    "feeds.ical",  # authenticated by its own secret token (tests/notifications/test_digest_and_feed.py)
    # one's own account (language, password, calendar link): nothing of a case (tests/web/test_account.py)
    "account.index", "account.language", "account.password", "account.calendar_link",
    "account.revoke_calendar_link", "account.create_api_token", "account.revoke_api_token",
}
# The REST API is not session-authenticated (a browser session gets 401 there); it has its own matrix
# across roles and communes in tests/api.
API_PREFIX = "/api/v1/"
# POST routes an auditor may use: they change no case (checked: no case version moves).
AUDITOR_MAY_POST = {
    "auditor.run_integrity",  # records that the check ran (audit.verified), changes no case
}


@pytest.fixture
def env(make, db, now):
    """Campaign with communes 10001 (A, in self-assessment) and 10002 (B: evidence, then a pending sign-off),
    and a second campaign whose council chair holds no seat in the first."""
    campaign = make.campaign(sign_off=("approve",))
    people = {"officer_a": make.officers["10001"], "chair_a": make.chairs["10001"],
              "officer_b": make.officers["10002"], "secretariat": make.secretariat, "auditor": make.auditor}
    a = make.case_of(campaign, "10001")
    b = make.case_of(campaign, "10002")
    make.advance(a, Stage.self_assessment)
    make.advance(b, Stage.self_assessment)
    for code in ("1.1.1", "2.1.1"):
        evidence.add_evidence(b, code, people["officer_b"], now=now, file_name=f"b-{code}.pdf", data=PDF,
                              media_type="application/pdf", locator="trang 1")
    db.session.commit()
    make.advance(b, Stage.council_meeting)
    result = cases.fire(b, "approve", people["secretariat"], now=now)
    assert not result.fired and result.sign_off is not None
    db.session.commit()

    make.campaign(key="other-2023", communes=("20001",))
    people["stranger"] = make.council[0]  # chairs the other campaign's council, no seat in ours
    assert db.session.scalar(select(CouncilSeat.id).where(CouncilSeat.campaign_id == campaign.id,
                                                          CouncilSeat.user_id == people["stranger"].id)) is None
    for user in db.session.scalars(select(User)):
        user.password_hash = password_hash()  # everyone has PASSWORD
    db.session.commit()
    return {"campaign": campaign, "a": a, "b": b, **people,
            "evidence_b": db.session.scalars(select(Evidence).where(Evidence.case_id == b.id)).first(),
            "sign_off_b": result.sign_off}


def _values(env) -> dict[str, list[str]]:
    """Commune B's value(s) for each URL parameter."""
    b = env["b"]
    return {
        "case_id": [str(b.id)],
        "evidence_id": [str(env["evidence_b"].id)],
        "sign_off_id": [str(env["sign_off_b"].id)],
        "user_id": [str(env["officer_b"].id)],
        "commune_id": [str(b.commune_id)],
        "key": [env["campaign"].key],
        "stage": [s.value for s in Stage],
        "fmt": ["csv", "json"],
        "name": sorted(TRANSITIONS),
    }


def _urls(app, values) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every route and every combination of B's values."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_CASE_DATA or rule.rule.startswith(API_PREFIX):
            continue
        missing = [arg for arg in rule.arguments if arg not in values]
        assert not missing, f"{rule.rule}: give the access matrix commune B's value for {missing}"
        combos = [{}]
        for arg in sorted(rule.arguments):
            combos = [{**c, arg: v} for c in combos for v in values[arg]]
        for combo in combos:
            url = rule.rule
            for arg, value in combo.items():
                url = url.replace(f"<int:{arg}>", value).replace(f"<{arg}>", value)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                out.append((rule.endpoint, method, url))
    return out


def _state(db) -> tuple:
    """Everything a refused request must leave as it was."""
    return (
        db.session.scalar(select(func.count(AuditEvent.id))),
        tuple(db.session.execute(select(Case.id, Case.stage, Case.version).order_by(Case.id)).all()),
        db.session.scalar(select(func.count(Evidence.id)).where(Evidence.removed_at.is_(None))),
        db.session.scalar(select(func.count(Signature.id))),
        tuple(db.session.execute(select(SignOff.id, SignOff.status).order_by(SignOff.id)).all()),
        tuple(db.session.execute(select(User.id, User.email, User.active, User.commune_id)
                                 .order_by(User.id)).all()),
        tuple(db.session.execute(select(Commune.id, Commune.code, Commune.name).order_by(Commune.id)).all()),
    )


def _form(env, version: int) -> dict:
    """Plausible data for any form: if a route refuses, it is for who asks, not for what is asked."""
    b = env["b"]
    return {"version": str(version), "reason": "thử", "revision_due": "2030-01-15", "comment": "Đồng ý",
            "decision": "approve", "sign_off_ids": str(env["sign_off_b"].id), "score": "1",
            "code": "1.1.1", "email": "x@example.vn", "name": "X", "roles": "admin",
            "commune_id": str(b.commune_id), "password": "a-long-password-1", "active": "0",
            "confirm": "yes", "next": f"/cases/{b.id}"}


def test_commune_officer_of_a_gets_nothing_of_b(app, env, db):
    values = _values(env)
    b_names = ("Xã 10002", env["officer_b"].email, "b-1.1.1.pdf")
    for officer in (env["officer_a"], env["chair_a"]):
        client = logged_in(app, officer)
        token = csrf_of(client.get(f"/cases/{env['a'].id}").get_data(as_text=True))
        before = _state(db)
        checked = 0
        for endpoint, method, url in _urls(app, values):
            if method == "GET":
                response = client.get(url)
                body = response.get_data(as_text=True) if response.status_code == 200 else ""
                if response.status_code == 200:
                    # a page A may open (its own lists, its own home) never shows commune B
                    assert not [n for n in b_names if n in body], f"{officer.email}: GET {url} shows commune B"
                else:
                    assert response.status_code in (302, 303, 403, 404), (endpoint, url, response.status_code)
                    if response.status_code in (302, 303):  # e.g. "/" to the user's own home
                        assert "/login" not in response.headers["Location"], (url, "session lost")
            else:
                response = client.post(url, data={**_form(env, env["b"].version), "csrf_token": token})
                assert response.status_code in (403, 404), (officer.email, endpoint, url, response.status_code)
            assert response.status_code != 500
            checked += 1
        assert _state(db) == before, f"a request of {officer.email} changed something"
        assert checked > 50


def test_auditor_can_change_nothing(app, env, db):
    values = _values(env)
    # the auditor's own commune-A values too: nothing of A may change either
    for key, extra in (("case_id", env["a"].id), ("commune_id", env["a"].commune_id),
                       ("user_id", env["officer_a"].id)):
        values[key] = [*values[key], str(extra)]
    client = logged_in(app, env["auditor"])
    token = csrf_of(client.get("/audit").get_data(as_text=True))
    before = _state(db)
    posted = 0
    for endpoint, method, url in _urls(app, values):
        if method != "POST" or endpoint in AUDITOR_MAY_POST:
            continue
        for version in {env["a"].version, env["b"].version}:
            response = client.post(url, data={**_form(env, version), "csrf_token": token})
            assert response.status_code != 500, (endpoint, url)
            posted += 1
    assert posted > 20
    assert _state(db) == before, "an auditor's request changed something"
    # the one POST an auditor has records the check and changes no case
    cases_before = _state(db)[1]
    assert client.post("/audit/integrity", data={"csrf_token": token}).status_code in (200, 303)
    assert _state(db)[1] == cases_before


def test_council_member_of_another_campaign_sees_nothing(app, env, db):
    client = logged_in(app, env["stranger"])
    for url in (f"/cases/{env['a'].id}", f"/cases/{env['b'].id}", f"/council/sign-offs/{env['sign_off_b'].id}",
                f"/cases/{env['b'].id}/evidence/{env['evidence_b'].id}"):
        assert client.get(url).status_code in (403, 404), url
    inbox = client.get("/council").get_data(as_text=True)
    assert "Xã 10002" not in inbox and "Xã 10001" not in inbox
    listing = client.get("/cases", follow_redirects=True).get_data(as_text=True)
    assert "Xã 10002" not in listing and "Xã 10001" not in listing
