"""The access matrix, taken from the app's own URL map so that a new route cannot slip past it.

- A commune officer (or chair) of commune A gets 403 or 404 on every page, file and action that names
  something of commune B, and nothing changes; pages they may open never show commune B.
- An auditor can change nothing: every POST route leaves the database as it was.
- A council member of another campaign sees nothing of this one.

- Every page route × each of the nine roles × own/other commune gets the allow/deny of GET_ROLES/POST_ROLES.

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

pytestmark = pytest.mark.reliability  # part of the reliability suite (issue 8): `-m reliability` runs it

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

# Routes outside the matrix, and why.
NOT_CASE_DATA = {
    "static",  # vendored CSS/JS
    "pages.favicon",  # the site's icon, like /static
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


# --- every page route × every role × own/other commune (issue 8) --------------------------------------

COMMUNE = {"commune_officer", "commune_chair"}
COUNCIL = {"council_member", "council_chair"}
SECRETARIAT = {"secretariat", "secretariat_head"}
READERS = SECRETARIAT | {"authority_leader", "auditor", "admin"}  # campaign-wide readers
ALL_ROLES = COMMUNE | COUNCIL | READERS
AUDIT_READERS = {"secretariat_head", "auditor", "admin"}
# Who may open each page (GET). Commune roles: their own commune only; council roles: their campaign.
GET_ROLES = {
    "pages.home": ALL_ROLES, "pages.index": ALL_ROLES,
    "pages.case": ALL_ROLES, "case_actions.evidence_file": ALL_ROLES,
    "assess.self_assessment": COMMUNE, "assess.appraisal": SECRETARIAT | {"admin"},
    "board.board": READERS, "board.column": READERS, "board.table": READERS,
    "board.export_csv": READERS, "board.export_xlsx": READERS,
    "council.inbox": COUNCIL, "council.sign_off": COUNCIL,
    "auditor.search": AUDIT_READERS, "auditor.case_as_of": AUDIT_READERS, "auditor.export": AUDIT_READERS,
    "auditor.integrity": AUDIT_READERS,
    "dashboard.index": COUNCIL | READERS,
    # results: published ones for every role; the matrix's campaign is unpublished, so its page sends each
    # role to the results as they stand (a commune sees its own row only) and no export exists yet
    "results.index": ALL_ROLES, "results.published": ALL_ROLES, "results.live": ALL_ROLES, "results.export": set(),
    "rollover.next_campaign": SECRETARIAT | {"admin"}, "rollover.next_plan_yaml": SECRETARIAT | {"admin"},
    # survey progress: readers and the council see every commune, a commune role its own rows only
    "survey.index": ALL_ROLES, "survey.progress": ALL_ROLES, "survey.import_forms": SECRETARIAT | {"admin"},
    "survey.import_template": SECRETARIAT | {"admin"},
    # remediation: whoever sees the case reads its plan page; no case here is published, so no download exists
    "remediation.plan": ALL_ROLES, "remediation.export_docx": set(), "remediation.export_pdf": set(),
    **{e: {"admin"} for e in ("admin.index", "admin.campaign_list", "admin.campaign", "admin.campaign_start",
                              "admin.commune_list", "admin.commune_edit", "admin.commune_new",
                              "admin.criteria_upload", "admin.plan_upload", "admin.user_list", "admin.user_edit",
                              "admin.user_new")},
}
# Who may POST to each action (own commune / own campaign); everyone else gets 403 or 404, nothing changes.
POST_ROLES = {
    "assess.self_assessment": COMMUNE, "assess.upload_evidence": {"commune_officer"},
    "assess.remove_evidence": {"commune_officer"}, "assess.appraisal": SECRETARIAT | {"admin"},
    "council.sign": COUNCIL, "council.approve_selected": COUNCIL,
    "auditor.run_integrity": AUDIT_READERS, "auth.unlock": {"admin"},
    "rollover.next_campaign": SECRETARIAT | {"admin"},
    "results.publish": SECRETARIAT | {"authority_leader", "admin"},
    **{e: SECRETARIAT | {"admin"} for e in ("survey.issue", "survey.convert", "survey.import_forms",
                                                    "survey.weights")},
    "remediation.draft": SECRETARIAT | {"admin", "commune_officer"},
    "remediation.save": {"commune_officer"}, "remediation.submit": {"commune_officer"},
    "remediation.return_plan": SECRETARIAT | {"admin"}, "remediation.mark_done": SECRETARIAT | {"admin"},
    **{e: {"admin"} for e in ("admin.campaign_start", "admin.commune_edit", "admin.commune_new",
                              "admin.criteria_upload", "admin.plan_upload", "admin.user_edit", "admin.user_new",
                              "admin.user_active", "admin.user_password")},
}
# URL parameters that name something of one commune: a commune role is refused the other commune's
SCOPED_PARAMS = ("/<int:case_id>", "/<int:evidence_id>", "/<int:commune_id>", "/<int:user_id>")
SCOPED_BY_ID = {"assess.self_assessment", "assess.upload_evidence", "assess.remove_evidence", "pages.case",
                "case_actions.evidence_file", "case_actions.fire", "remediation.plan", "remediation.draft",
                "remediation.save", "remediation.submit"}
OK, DENY = "ok", "deny"  # ok: 200 or a redirect that keeps the session; deny: 403 or 404


def _post_roles(endpoint: str, url: str) -> set[str]:
    if endpoint == "case_actions.fire":  # the chart says who fires each transition
        return {r.value for r in TRANSITIONS[url.rsplit("/", 1)[1]].roles}
    return POST_ROLES.get(endpoint, set())


def _expected(endpoint: str, method: str, url: str, role: str, side: str) -> str:
    allowed = GET_ROLES[endpoint] if method == "GET" else _post_roles(endpoint, url)
    if role not in allowed:
        return DENY
    if side == "other" and role in COMMUNE and endpoint in SCOPED_BY_ID:
        return DENY
    return OK


def _outcome(response) -> str:
    response.get_data()
    response.close()  # streamed exports
    if response.status_code == 200:
        return OK
    if response.status_code in (302, 303):
        assert "/login" not in response.headers["Location"], "session lost"
        return OK
    assert response.status_code in (403, 404), response.status_code
    return DENY


@pytest.fixture
def role_env(env, db, now):
    """The matrix's world plus one user per role in the first campaign and evidence on commune A."""
    evidence.add_evidence(env["a"], "1.1.1", env["officer_a"], now=now, file_name="a-1.1.1.pdf", data=PDF,
                          media_type="application/pdf")
    db.session.commit()
    key = env["campaign"].key
    people = {"officer_a": env["officer_a"], "chair_a": env["chair_a"]}
    for role, local in (("council_member", "council1"), ("council_chair", "council0"), ("secretariat", "secretariat"),
                        ("secretariat_head", "head"), ("authority_leader", "leader"), ("auditor", "auditor"),
                        ("admin", "admin")):
        people[role] = db.session.scalar(select(User).where(User.email == f"{local}@{key}.example.vn"))
    users = {"commune_officer": people["officer_a"], "commune_chair": people["chair_a"],
             **{r: people[r] for r in ALL_ROLES - COMMUNE}}
    assert {r for r, u in users.items() if r in {x.value for x in u.roles}} == ALL_ROLES
    own = {**_values(env), "case_id": [str(env["a"].id)], "user_id": [str(env["officer_a"].id)],
           "commune_id": [str(env["a"].commune_id)],
           "evidence_id": [str(db.session.scalar(select(Evidence.id).where(Evidence.case_id == env["a"].id)))]}
    return {**env, "users": users, "own": own, "other": _values(env)}


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_every_page_for_every_role_own_and_other_commune(app, role_env, db, role):
    """GET: the expected allow/deny per route, role and commune; POST: every action the role may not
    take is refused and changes nothing (the state check below is what proves it)."""
    client = logged_in(app, role_env["users"][role])
    token = csrf_of(client.get("/account").get_data(as_text=True))
    unlisted = {r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods
                and r.endpoint not in NOT_CASE_DATA and not r.rule.startswith(API_PREFIX)} - set(GET_ROLES)
    assert not unlisted, f"give the access matrix the roles that may open {sorted(unlisted)} (GET_ROLES)"
    wrong, before = [], _state(db)
    for side in ("own", "other"):
        for endpoint, method, url in _urls(app, role_env[side]):
            if method == "GET":
                got = _outcome(client.get(url))
                if got != _expected(endpoint, method, url, role, side):
                    wrong.append((side, method, url, got))
            elif _expected(endpoint, method, url, role, side) == DENY:
                response = client.post(url, data={**_form(role_env, role_env["b"].version), "csrf_token": token})
                # the case page shows a transition its viewer may not fire as a refusal beside the actions (303)
                refusals = (303, 403, 404, 409) if endpoint == "case_actions.fire" else (403, 404)
                if response.status_code not in refusals:
                    wrong.append((side, method, url, response.status_code))
    assert not wrong, f"{role}: {wrong}"
    assert _state(db) == before, f"a refused request of {role} changed something"
