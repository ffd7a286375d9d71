"""API: loading plan files and criteria sets (admins, as the admin pages), communes, 405s, bad filters."""

from __future__ import annotations

import io

import yaml
from sqlalchemy import func, select

from config import ROOT
from models import AuditEvent, Campaign, Case, Commune, db
from workflow import api_tokens, cases
from workflow.clock import utcnow

PROBLEM = "application/problem+json"
PLAN = ROOT / "examples" / "plan-nui-thanh-2023.yaml"
CRITERIA = ROOT / "examples" / "criteria-quang-dien-xa-2019.json"


def _problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["type"].endswith("/" + code)
    return body


def _events() -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)))


def _yaml(api, role, text: str | bytes, url="/api/v1/campaigns"):
    return api(role).post(url, data=text, headers={"Content-Type": "application/yaml"})


# --- loading --------------------------------------------------------------------------------------

def test_admin_loads_criteria_then_plan_by_body_and_multipart_idempotently(api, world):
    raw = CRITERIA.read_bytes()
    created = api("admin").post("/api/v1/criteria-sets", data=raw, headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["key"] == "quang-dien-xa-2019" and body["created"] is True and body["leaves"] == 84
    assert body["total_points"] == "100.00"
    again = api("admin").post("/api/v1/criteria-sets", data={"file": (io.BytesIO(raw), "bo-chi-so.json")},
                              content_type="multipart/form-data")
    assert again.status_code == 200 and again.get_json()["created"] is False

    plan = _yaml(api, "admin", PLAN.read_bytes())
    assert plan.status_code == 201, plan.get_data(as_text=True)
    body = plan.get_json()
    assert body["campaign"] == "nui-thanh-2023" and body["changed"] is True
    assert body["created"]["case"] == 17 and body["created"]["campaign"] == 1
    assert plan.headers["Location"].endswith("/api/v1/campaigns/nui-thanh-2023")
    assert db.session.scalar(select(func.count(Case.id)).join(Campaign).where(Campaign.key == "nui-thanh-2023")) == 17
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "campaign.created")) is not None
    # the same file again, as a multipart upload: nothing changes, no new event
    before = _events()
    same = api("admin").post("/api/v1/campaigns", data={"file": (io.BytesIO(PLAN.read_bytes()), "plan.yaml")},
                             content_type="multipart/form-data")
    assert same.status_code == 200 and same.get_json()["changed"] is False and _events() == before
    assert api("admin").get("/api/v1/campaigns/nui-thanh-2023").status_code == 200


def test_a_wrong_plan_is_422_listing_every_problem_by_path_and_nothing_is_written(api, world):
    plan = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    plan["campaign"]["year"] = "năm nay"
    del plan["communes"][2]["name"]
    plan["stages"]["nowhere"] = "2023-11-10"
    plan["surprise"] = 1
    before, communes = _events(), db.session.scalar(select(func.count(Commune.id)))
    body = _problem(_yaml(api, "admin", yaml.safe_dump(plan, allow_unicode=True)), 422, "plan-invalid")
    assert {"campaign.year", "communes[2].name", "stages.nowhere", "surprise"} <= set(body["errors"])
    assert all(body["errors"].values())
    assert _events() == before and db.session.scalar(select(func.count(Commune.id))) == communes


def test_yaml_syntax_unsafe_tags_and_bad_bytes_are_422_naming_the_place(api, world):
    body = _problem(_yaml(api, "admin", "campaign:\n  key: [unclosed\n"), 422, "plan-invalid")
    assert any(key.startswith("line ") for key in body["errors"])
    # the safe loader refuses Python tags: nothing runs
    body = _problem(_yaml(api, "admin", '!!python/object/apply:os.system ["echo pwned"]\n'), 422, "plan-invalid")
    assert body["errors"]
    body = _problem(_yaml(api, "admin", b"campaign: \xff\xfe\n"), 422, "plan-invalid")
    assert "byte 10" in body["errors"]
    body = _problem(api("admin").post("/api/v1/criteria-sets", json=[1, 2]), 422, "plan-invalid")
    assert "(top level)" in body["errors"]


def test_only_admins_load_and_uploads_are_checked(app, api, world):
    for role in ("secretariat", "head", "officer_a", "auditor", "council", "leader"):
        _problem(_yaml(api, role, PLAN.read_bytes()), 403, "forbidden")
        _problem(api(role).post("/api/v1/criteria-sets", data=CRITERIA.read_bytes(),
                                headers={"Content-Type": "application/json"}), 403, "forbidden")
    _problem(api("admin").post("/api/v1/campaigns", data="x", headers={"Content-Type": "text/csv"}),
             415, "unsupported-media-type")
    wrong = api("admin").post("/api/v1/campaigns", data={"file": (io.BytesIO(b"a,b"), "plan.csv")},
                              content_type="multipart/form-data")
    assert _problem(wrong, 422, "invalid-input")["errors"] == {
        "file": ["Only YAML (.yaml, .yml) or JSON (.json) files can be loaded."]}
    missing = api("admin").post("/api/v1/campaigns", data={"other": "x"}, content_type="multipart/form-data")
    assert "file" in _problem(missing, 422, "invalid-input")["errors"]
    app.config["ADMIN_UPLOAD_MAX_BYTES"] = 1024
    _problem(_yaml(api, "admin", PLAN.read_bytes()), 413, "too-large")
    big = api("admin").post("/api/v1/campaigns", data={"file": (io.BytesIO(b"#" * 2000), "plan.yaml")},
                            content_type="multipart/form-data")
    _problem(big, 413, "too-large")


# --- communes -------------------------------------------------------------------------------------

def _codes(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [c["code"] for c in response.get_json()["items"]]


def test_communes_scoped_like_the_cases(api, world, make, db, tokens):
    a = cases.get_case("tiny-2023", "10001")
    assert _codes(api("secretariat").get("/api/v1/communes")) == ["10001", "10002"]
    mine = api("officer_a").get("/api/v1/communes").get_json()
    assert mine["total"] == 1 and mine["items"][0]["cases"] == [
        {"id": a.id, "campaign": "tiny-2023", "stage": "self_assessment"}]
    assert _codes(api("council").get("/api/v1/communes")) == ["10001", "10002"]
    one = api("chair_a").get("/api/v1/communes/10001")
    assert one.status_code == 200 and one.get_json()["name"] == "Xã 10001"
    _problem(api("officer_a").get("/api/v1/communes/10002"), 404, "not-found")
    _problem(api("officer_a").get("/api/v1/communes/99999"), 404, "not-found")
    # a council member of another campaign sees none of ours
    make.campaign(key="other-2023", communes=("20001",))
    tokens["stranger"] = api_tokens.create_token(make.council[0], "x", now=utcnow())[1]
    db.session.commit()
    assert _codes(api("stranger").get("/api/v1/communes")) == ["20001"]
    _problem(api("stranger").get("/api/v1/communes/10001"), 404, "not-found")
    _problem(api("stranger").get("/api/v1/communes?campaign=tiny-2023"), 404, "not-found")


def test_communes_filters_and_pages(api, world, make, db):
    commune = db.session.scalar(select(Commune).where(Commune.code == "10002"))
    commune.name = "Xã Tam Đàn"
    db.session.commit()
    secretariat = api("secretariat")
    assert _codes(secretariat.get("/api/v1/communes?q=tam dan")) == ["10002"]  # accents and case ignored
    assert _codes(secretariat.get("/api/v1/communes?q=TÂM")) == ["10002"]
    assert _codes(secretariat.get("/api/v1/communes?q=1000")) == ["10001", "10002"]
    assert _codes(secretariat.get("/api/v1/communes?q=50%25")) == []  # % is text, not a wildcard
    assert _codes(secretariat.get("/api/v1/communes?code=10001")) == ["10001"]
    assert _codes(secretariat.get("/api/v1/communes?campaign=tiny-2023&per_page=1&page=2")) == ["10002"]
    page = secretariat.get("/api/v1/communes?per_page=1").get_json()
    assert page["total"] == 2 and page["per_page"] == 1 and len(page["items"]) == 1
    _problem(secretariat.get("/api/v1/communes?campaign=nope"), 404, "not-found")
    body = _problem(secretariat.get("/api/v1/communes?per_page=0&q=" + "x" * 101), 422, "invalid-input")
    assert set(body["errors"]) == {"per_page", "q"}


# --- the case list, set-based ---------------------------------------------------------------------

def test_case_list_pages_across_campaigns_in_order_with_scope_and_filters(api, world, make, db):
    make.campaign(key="other-2023", communes=("20001", "20002"))
    db.session.commit()
    ids = {(c.campaign.key, c.commune.code): c.id for c in db.session.scalars(select(Case))}
    order = [ids["other-2023", "20001"], ids["other-2023", "20002"], ids["tiny-2023", "10001"],
             ids["tiny-2023", "10002"]]
    reader = api("auditor")
    first = reader.get("/api/v1/cases?per_page=3").get_json()
    second = reader.get("/api/v1/cases?per_page=3&page=2").get_json()
    assert first["total"] == second["total"] == 4
    assert [c["id"] for c in first["items"] + second["items"]] == order
    assert [c["id"] for c in reader.get("/api/v1/cases?per_page=1&page=3").get_json()["items"]] == [order[2]]
    assert api("officer_a").get("/api/v1/cases?campaign=tiny-2023").get_json()["total"] == 1
    _problem(api("officer_a").get("/api/v1/cases?campaign=other-2023"), 404, "not-found")
    _problem(reader.get("/api/v1/cases?campaign=nope"), 404, "not-found")
    planning = reader.get("/api/v1/cases?stage=planning&commune=20002").get_json()
    assert [c["id"] for c in planning["items"]] == [order[1]]


# --- wrong methods and bad filters ----------------------------------------------------------------

def test_a_wrong_method_on_a_known_path_is_405_with_allow(api, world):
    a = cases.get_case("tiny-2023", "10001")
    token = {"Authorization": f"Bearer {api('admin').token}"}
    client = api("admin").client
    response = client.delete(f"/api/v1/cases/{a.id}", headers=token)
    assert _problem(response, 405, "method-not-allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET"} and "DELETE" not in response.headers["Allow"]
    response = client.put("/api/v1/campaigns", headers=token)
    _problem(response, 405, "method-not-allowed")
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))
    _problem(client.get(f"/api/v1/cases/{a.id}/transitions/submit", headers=token), 405, "method-not-allowed")
    _problem(client.delete("/api/v1/nothing/here", headers=token), 404, "not-found")


def test_audit_filters_refuse_an_unknown_campaign_and_a_reversed_range(api, world):
    _problem(api("auditor").get("/api/v1/audit/events?campaign=nope"), 404, "not-found")
    body = _problem(api("auditor").get("/api/v1/audit/events?from=2023-12-01&to=2023-11-01"), 422, "invalid-input")
    assert set(body["errors"]) == {"from", "to"}
    same_day = api("auditor").get("/api/v1/audit/events?from=2023-11-01&to=2023-11-01&campaign=tiny-2023")
    assert same_day.status_code == 200
