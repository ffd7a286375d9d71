"""The REST API: tokens, scope (the pages' rules), problems, pagination, ETag/If-Match, the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Case
from states import Stage
from workflow import api_tokens, cases
from workflow.clock import utcnow

PROBLEM = "application/problem+json"


def _case(world, code):
    return cases.get_case("tiny-2023", code)


def _assert_problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["type"] == f"https://cchc.example.vn/problems/{code}"
    assert body["title"] and "Traceback" not in response.get_data(as_text=True)
    return body


# --- authentication ---------------------------------------------------------------------------------

def test_no_token_bad_token_revoked_token_and_session_cookie_get_401(app, world, tokens, db):
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer cchc_nope"}, {"Authorization": f"Basic {tokens['admin']}"},
                    {"Authorization": tokens["admin"]}):
        response = client.get("/api/v1/cases", headers=headers)
        _assert_problem(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    owner = world.admin
    row = api_tokens.tokens_of(owner)[0]
    api_tokens.revoke_token(owner, row.id, now=utcnow())
    db.session.commit()
    _assert_problem(client.get("/api/v1/cases", headers={"Authorization": f"Bearer {tokens['admin']}"}),
                    401, "unauthorized")
    # a logged-in browser session is not an API credential
    from tests.web.helpers import logged_in

    browser = logged_in(app, world.secretariat)
    _assert_problem(browser.get("/api/v1/cases"), 401, "unauthorized")


def test_disabled_users_token_gets_401(api, world, db):
    world.secretariat.active = False
    db.session.commit()
    _assert_problem(api("secretariat").get("/api/v1/campaigns"), 401, "unauthorized")


def test_token_use_is_noted(api, world, db):
    assert api("officer_a").get("/api/v1/campaigns").status_code == 200
    row = api_tokens.tokens_of(world.officers["10001"])[0]
    db.session.refresh(row)
    assert row.last_used_at is not None


# --- campaigns --------------------------------------------------------------------------------------

def test_campaigns_list_and_read(api, world):
    key = world.campaign_obj.key
    body = api("officer_a").get("/api/v1/campaigns").get_json()
    assert body["total"] == 1 and body["page"] == 1 and [c["key"] for c in body["items"]] == [key]
    one = api("auditor").get(f"/api/v1/campaigns/{key}")
    assert one.status_code == 200 and one.get_json()["year"] == world.campaign_obj.year
    _assert_problem(api("auditor").get("/api/v1/campaigns/no-such"), 404, "not-found")


def test_council_member_of_another_campaign_sees_no_campaign(api, world, make, db, tokens):
    make.campaign(key="other-2023", communes=("20001",))
    stranger = make.council[0]
    raw = api_tokens.create_token(stranger, "x", now=utcnow())[1]
    db.session.commit()
    tokens["stranger"] = raw
    body = api("stranger").get("/api/v1/campaigns").get_json()
    assert [c["key"] for c in body["items"]] == ["other-2023"]
    _assert_problem(api("stranger").get("/api/v1/campaigns/tiny-2023"), 404, "not-found")
    _assert_problem(api("stranger").get(f"/api/v1/cases/{_case(world, '10001').id}"), 404, "not-found")


# --- cases: list, filters, pagination, scope --------------------------------------------------------

def test_cases_list_scoped_filtered_and_paginated(api, world):
    a, b = _case(world, "10001"), _case(world, "10002")
    everyone = api("secretariat").get("/api/v1/cases").get_json()
    assert everyone["total"] == 2 and [c["id"] for c in everyone["items"]] == [a.id, b.id]
    assert everyone["items"][0]["commune"] == {"code": "10001", "name": "Xã 10001"}
    mine = api("officer_a").get("/api/v1/cases").get_json()
    assert [c["id"] for c in mine["items"]] == [a.id] and mine["total"] == 1
    # a filter naming another commune finds nothing (not an error)
    assert api("officer_a").get("/api/v1/cases?commune=10002").get_json()["total"] == 0
    staged = api("secretariat").get("/api/v1/cases?stage=planning").get_json()
    assert [c["id"] for c in staged["items"]] == [b.id]
    assert api("secretariat").get("/api/v1/cases?campaign=tiny-2023&commune=10001").get_json()["total"] == 1
    _assert_problem(api("secretariat").get("/api/v1/cases?campaign=nope"), 404, "not-found")
    page2 = api("secretariat").get("/api/v1/cases?per_page=1&page=2").get_json()
    assert page2 == {**page2, "page": 2, "per_page": 1, "total": 2} and [c["id"] for c in page2["items"]] == [b.id]
    assert api("secretariat").get("/api/v1/cases?per_page=1&page=3").get_json()["items"] == []


def test_overdue_filter(api, world):
    a = _case(world, "10001")
    late = api("secretariat").get("/api/v1/cases?overdue=true").get_json()
    on_time = api("secretariat").get("/api/v1/cases?overdue=false").get_json()
    assert late["total"] + on_time["total"] == 2
    for item in late["items"]:
        assert item["deadline"]["late"] is True
    item_a = next(c for c in late["items"] + on_time["items"] if c["id"] == a.id)
    assert item_a["deadline"] is not None and set(item_a["deadline"]) >= {"due", "working_days_left", "late"}


@pytest.mark.parametrize("query, fields", [
    ("stage=nowhere", {"stage"}),
    ("per_page=0", {"per_page"}),
    ("per_page=1000&page=0", {"per_page", "page"}),
    ("overdue=perhaps", {"overdue"}),
])
def test_bad_query_is_422_with_every_field(api, world, query, fields):
    body = _assert_problem(api("secretariat").get(f"/api/v1/cases?{query}"), 422, "invalid-input")
    assert set(body["errors"]) == fields and all(body["errors"][f] for f in fields)


def test_commune_a_gets_404_on_commune_b(api, world):
    b = _case(world, "10002")
    for url in (f"/api/v1/cases/{b.id}", f"/api/v1/cases/{b.id}/readiness", "/api/v1/cases/999999"):
        _assert_problem(api("officer_a").get(url), 404, "not-found")
    response = api("officer_a").post(f"/api/v1/cases/{b.id}/transitions/open", json={},
                                     headers={"If-Match": f'"v{b.version}"'})
    _assert_problem(response, 404, "not-found")


def test_case_read_has_its_version_as_etag(api, world):
    a = _case(world, "10001")
    response = api("officer_a").get(f"/api/v1/cases/{a.id}")
    assert response.status_code == 200 and response.headers["ETag"] == f'"v{a.version}"'
    body = response.get_json()
    assert body["id"] == a.id and body["stage"] == "self_assessment" and body["version"] == a.version
    assert body["campaign"] == "tiny-2023"


def test_readiness_lists_each_transition_with_its_blockers_for_the_caller(api, world):
    a = _case(world, "10001")
    officer = api("officer_a").get(f"/api/v1/cases/{a.id}/readiness").get_json()
    assert officer["stage"] == "self_assessment" and [t["name"] for t in officer["transitions"]] == ["submit"]
    submit = officer["transitions"][0]
    assert submit["ready"] is False and any(b["code"] for b in submit["blockers"])  # scores missing, by code
    # the auditor sees the case but holds no role to submit it: that is one more blocker
    auditor = api("auditor").get(f"/api/v1/cases/{a.id}/readiness").get_json()["transitions"][0]
    assert any("needs one of the roles" in b["reason"] for b in auditor["blockers"])


# --- transitions: If-Match, refusals, success -------------------------------------------------------

def _events(db):
    return db.session.scalar(select(func.count(AuditEvent.id)))


def test_transition_needs_if_match_and_a_current_one(api, world, db):
    b = _case(world, "10002")
    url = f"/api/v1/cases/{b.id}/transitions/open"
    before = _events(db)
    _assert_problem(api("secretariat").post(url, json={}), 428, "precondition-required")
    _assert_problem(api("secretariat").post(url, json={}, headers={"If-Match": "*"}), 428, "precondition-required")
    stale = api("secretariat").post(url, json={}, headers={"If-Match": f'"v{b.version - 1}"'})
    _assert_problem(stale, 412, "precondition-failed")
    assert stale.headers["ETag"] == f'"v{b.version}"'
    assert _events(db) == before
    ok = api("secretariat").post(url, json={}, headers={"If-Match": f'"v{b.version}"'})
    assert ok.status_code == 200, ok.get_json()
    db.session.expire_all()
    case = db.session.get(Case, b.id)
    assert case.stage == "self_assessment" and ok.headers["ETag"] == f'"v{case.version}"'
    body = ok.get_json()
    assert body["fired"] is True and body["source"] == "planning" and body["dest"] == "self_assessment"
    assert body["case"]["version"] == case.version
    assert _events(db) > before
    # the old ETag is stale now
    again = api("secretariat").post(url, json={}, headers={"If-Match": ok.headers["ETag"].replace(
        str(case.version), str(case.version - 1))})
    _assert_problem(again, 412, "precondition-failed")


def test_refused_transition_is_409_with_blockers(api, world, db):
    a = _case(world, "10001")
    before = _events(db)
    response = api("officer_a").post(f"/api/v1/cases/{a.id}/transitions/submit", json={},
                                     headers={"If-Match": f'"v{a.version}"'})
    body = _assert_problem(response, 409, "transition-refused")
    assert body["transition"] == "submit" and body["blockers"] and all(
        set(b) == {"code", "reason"} for b in body["blockers"])
    assert _events(db) == before and db.session.get(Case, a.id).stage == "self_assessment"


def test_wrong_role_is_403_and_unknown_transition_404(api, world, db):
    a = _case(world, "10001")
    headers = {"If-Match": f'"v{a.version}"'}
    _assert_problem(api("auditor").post(f"/api/v1/cases/{a.id}/transitions/submit", json={}, headers=headers),
                    403, "forbidden")
    _assert_problem(api("secretariat").post(f"/api/v1/cases/{a.id}/transitions/fly", json={}, headers=headers),
                    404, "not-found")


def test_bad_body_is_422_and_reason_rules_are_blockers(api, world, db):
    b = _case(world, "10002")
    world.advance(b, Stage.appraisal)
    db.session.commit()
    url = f"/api/v1/cases/{b.id}/transitions/return_for_revision"
    headers = {"If-Match": f'"v{b.version}"'}
    bad = _assert_problem(api("secretariat").post(url, json={"revision_due": "soon", "reason": 5,
                                                             "extra": 1}, headers=headers), 422, "invalid-input")
    assert set(bad["errors"]) == {"revision_due", "reason", "extra"}
    broken = api("secretariat").post(url, data="{not json", content_type="application/json", headers=headers)
    assert broken.status_code in (400, 422) and broken.mimetype == PROBLEM
    refused = _assert_problem(api("secretariat").post(url, json={}, headers=headers), 409, "transition-refused")
    reasons = {b["reason"] for b in refused["blockers"]}
    assert {"a reason is required", "a revision deadline is required"} <= reasons
    done = api("secretariat").post(url, json={"reason": "Thiếu minh chứng", "revision_due": "2099-01-15"},
                                   headers=headers)
    assert done.status_code == 200 and done.get_json()["dest"] == "self_assessment"
    assert done.get_json()["case"]["revision_due"] == "2099-01-15"


def test_unknown_api_path_and_method_are_problems(api, world):
    _assert_problem(api("admin").get("/api/v1/nothing-here"), 404, "not-found")
    a = _case(world, "10001")
    response = api("admin").client.delete(f"/api/v1/cases/{a.id}",
                                          headers={"Authorization": f"Bearer {api('admin').token}"})
    assert response.status_code in (404, 405) and response.mimetype == PROBLEM


def test_openapi_document(app):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "a personal API token (cchc_...)"}
    assert spec["security"] == [{"bearerAuth": []}]
    assert {"/api/v1/campaigns", "/api/v1/campaigns/{key}", "/api/v1/cases", "/api/v1/cases/{case_id}",
            "/api/v1/cases/{case_id}/readiness", "/api/v1/cases/{case_id}/transitions/{name}"} <= set(spec["paths"])
    fire = spec["paths"]["/api/v1/cases/{case_id}/transitions/{name}"]["post"]
    assert {"200", "409", "412", "428"} <= set(fire["responses"])


def test_an_unknown_path_with_a_newline_is_a_problem_too(api):
    response = api("officer_a").get("/api/v1/cases/-1%0A/transitions/x")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")
