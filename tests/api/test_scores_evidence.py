"""The API's scores and evidence: read, change with If-Match in the stage that owns them, upload, download."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from models import AuditEvent
from states import Stage
from workflow import cases
from workflow import evidence as evidence_ops
from workflow.clock import utcnow

PROBLEM = "application/problem+json"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _case(code):
    return cases.get_case("tiny-2023", code)


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return response.get_json()


def _patch(api, role, url, body, etag=None):
    client = api(role)
    extra = {"If-Match": etag} if etag else {}
    return client.client.patch(url, json=body, headers=client._headers(extra))


def _etag(case):
    return f'"v{case.version}"'


def _audits(db, action):
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def _upload(api, role, case, etag, *, code="1.1.1", name="kehoach.pdf", data=PDF, locator="trang 2"):
    form = {"code": code, "locator": locator}
    if data is not None:
        form["file"] = (io.BytesIO(data), name, "application/pdf")
    headers = {"If-Match": etag} if etag else {}
    return api(role).post(f"/api/v1/cases/{case.id}/evidence", data=form, headers=headers,
                          content_type="multipart/form-data")


def _to_appraisal(world, db):
    a = _case("10001")
    for code in ("1.1.1", "2.1.1"):
        evidence_ops.add_evidence(a, code, world.officers["10001"], now=utcnow(), file_name=f"{code}.pdf", data=PDF,
                                  media_type="application/pdf")
    world.advance(a, Stage.appraisal)
    db.session.commit()
    assert a.stage_enum == Stage.appraisal
    return a


# --- scores: read ------------------------------------------------------------------------------------

def test_scores_list_every_sub_criterion_with_totals_and_etag(api, world, db):
    a = _case("10001")
    response = api("officer_a").get(f"/api/v1/cases/{a.id}/scores")
    assert response.status_code == 200 and response.headers["ETag"] == _etag(a)
    body = response.get_json()
    assert body["case_id"] == a.id and body["stage"] == "self_assessment"
    assert [i["code"] for i in body["items"]] == ["1.1.1", "1.1.2", "2.1.1", "2.2.1"]
    survey = body["items"][3]
    assert survey["method"] == "survey" and survey["max_points"] == "2.00" and survey["self_score"] is None
    assert body["totals"] == {"total": "0.00", "own_max": "7.00", "self_total": "0.00", "percentage": "0.00"}
    assert api("auditor").get(f"/api/v1/cases/{a.id}/scores").status_code == 200


def test_scores_of_another_commune_are_404(api, world):
    b = _case("10002")
    _problem(api("officer_a").get(f"/api/v1/cases/{b.id}/scores"), 404)
    _problem(api("officer_a").get("/api/v1/cases/999999/scores"), 404)


# --- scores: self-assessment -------------------------------------------------------------------------

def test_officer_sets_self_score_with_if_match_and_gets_the_new_etag(api, world, db):
    a = _case("10001")
    url = f"/api/v1/cases/{a.id}/scores/1.1.2"
    before, old = _audits(db, "score.changed"), _etag(a)
    response = _patch(api, "officer_a", url, {"self_score": "1,5", "explanation": "Có báo cáo"}, _etag(a))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["self_score"] == "1.50" and body["explanation"] == "Có báo cáo" and body["code"] == "1.1.2"
    db.session.expire_all()
    assert response.headers["ETag"] == _etag(_case("10001")) != old
    assert _audits(db, "score.changed") == before + 1
    read = api("officer_a").get(f"/api/v1/cases/{a.id}/scores")
    assert read.headers["ETag"] == response.headers["ETag"]
    assert read.get_json()["totals"]["self_total"] == "1.50"
    # not applicable (allowed on 1.1.2), then a number
    na = _patch(api, "officer_a", url, {"not_applicable": True, "self_score": 2}, response.headers["ETag"])
    assert na.status_code == 200 and na.get_json()["not_applicable"] is True and na.get_json()["self_score"] == "2.00"
    assert api("officer_a").get(f"/api/v1/cases/{a.id}/scores").get_json()["totals"]["own_max"] == "5.00"


def test_score_change_needs_a_current_if_match(api, world, db):
    a = _case("10001")
    url = f"/api/v1/cases/{a.id}/scores/1.1.2"
    _problem(_patch(api, "officer_a", url, {"self_score": 1}), 428)
    stale = _problem(_patch(api, "officer_a", url, {"self_score": 1}, f'"v{a.version - 1}"'), 412)
    assert stale["status"] == 412
    db.session.expire_all()
    assert _case("10001").scores == [] or all(s.self_score is None for s in _case("10001").scores)


@pytest.mark.parametrize("body, field", [
    ({"self_score": "5"}, "self_score"),          # above the maximum of 2
    ({"self_score": "0.555"}, "self_score"),      # three decimals
    ({"self_score": "abc"}, "self_score"),
    ({"self_score": True}, "self_score"),          # not a number (schema)
    ({"explanation": 3}, "explanation"),
    ({"nonsense": 1}, "nonsense"),
    ({"self_score": 1, "appraised_score": 1}, "appraised_score"),  # two stages at once
])
def test_bad_value_is_422_naming_the_field(api, world, db, body, field):
    a = _case("10001")
    problem = _problem(_patch(api, "officer_a", f"/api/v1/cases/{a.id}/scores/1.1.2", body, _etag(a)), 422)
    assert field in problem["errors"], problem


def test_refusals_wrong_role_stage_commune_and_item(api, world, db):
    a, b = _case("10001"), _case("10002")
    url = f"/api/v1/cases/{a.id}/scores/1.1.2"
    _problem(_patch(api, "secretariat", url, {"self_score": 1}, _etag(a)), 403)       # not the commune's officer
    _problem(_patch(api, "auditor", url, {"self_score": 1}, _etag(a)), 403)
    _problem(_patch(api, "secretariat", url, {"appraised_score": 1}, _etag(a)), 403)  # not in appraisal yet
    _problem(_patch(api, "officer_b", url, {"self_score": 1}, _etag(a)), 404)         # another commune's case
    _problem(_patch(api, "officer_b", f"/api/v1/cases/{b.id}/scores/1.1.2", {"self_score": 1}, _etag(b)), 403)
    _problem(_patch(api, "officer_a", f"/api/v1/cases/{a.id}/scores/9.9.9", {"self_score": 1}, _etag(a)), 404)
    _problem(_patch(api, "officer_a", f"/api/v1/cases/{a.id}/scores/2.2.1", {"self_score": 1}, _etag(a)), 422)
    _problem(_patch(api, "officer_a", f"/api/v1/cases/{a.id}/scores/1.1.2", {}, _etag(a)), 422)
    db.session.expire_all()
    assert _case("10001").version == a.version


# --- scores: appraisal -------------------------------------------------------------------------------

def test_secretariat_appraises_in_appraisal_and_the_officer_no_longer_scores(api, world, db):
    a = _to_appraisal(world, db)
    url = f"/api/v1/cases/{a.id}/scores/1.1.1"
    ok = _patch(api, "secretariat", url, {"appraised_score": "0.5", "appraiser_note": "Thiếu chữ ký"}, _etag(a))
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert ok.get_json()["appraised_score"] == "0.50" and ok.get_json()["appraiser_note"] == "Thiếu chữ ký"
    totals = api("secretariat").get(f"/api/v1/cases/{a.id}/scores").get_json()["totals"]
    assert totals["total"] == "0.50"
    etag = ok.headers["ETag"]
    _problem(_patch(api, "officer_a", url, {"self_score": 1}, etag), 403)
    _problem(_patch(api, "officer_a", url, {"appraised_score": 1}, etag), 403)
    bad = _problem(_patch(api, "secretariat", url, {"appraised_score": "7"}, etag), 422)
    assert "appraised_score" in bad["errors"]


# --- evidence ----------------------------------------------------------------------------------------

def test_officer_uploads_lists_and_downloads_evidence(api, world, db):
    a = _case("10001")
    assert api("officer_a").get(f"/api/v1/cases/{a.id}/evidence").get_json() == {"case_id": a.id, "items": []}
    before, old = _audits(db, "evidence.added"), _etag(a)
    response = _upload(api, "officer_a", a, old)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == "1.1.1" and body["file_name"] == "kehoach.pdf" and body["size"] == len(PDF)
    assert body["media_type"] == "application/pdf" and body["locator"] == "trang 2"
    assert response.headers["Location"] == body["download"]
    db.session.expire_all()
    assert response.headers["ETag"] == _etag(_case("10001")) != old
    assert _audits(db, "evidence.added") == before + 1
    listed = api("chair_a").get(f"/api/v1/cases/{a.id}/evidence").get_json()["items"]
    assert [e["id"] for e in listed] == [body["id"]]
    file = api("chair_a").get(body["download"])
    assert file.status_code == 200 and file.data == PDF and file.mimetype == "application/pdf"
    assert file.headers["Content-Disposition"].startswith("attachment")
    assert file.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert file.headers["Cache-Control"] == "private, no-store"


def test_evidence_refusals(api, world, db):
    a, b = _case("10001"), _case("10002")
    _problem(_upload(api, "officer_a", a, None), 428)
    _problem(_upload(api, "officer_a", a, f'"v{a.version - 1}"'), 412)
    _problem(_upload(api, "secretariat", a, _etag(a)), 403)
    _problem(_upload(api, "officer_b", a, _etag(a)), 404)
    _problem(api("officer_b").get(f"/api/v1/cases/{a.id}/evidence"), 404)
    assert "file" in _problem(_upload(api, "officer_a", a, _etag(a), name="x.exe", data=b"MZ"), 422)["errors"]
    assert "file" in _problem(_upload(api, "officer_a", a, _etag(a), name="x.pdf", data=b"not a pdf"), 422)["errors"]
    assert "file" in _problem(_upload(api, "officer_a", a, _etag(a), data=None), 422)["errors"]
    assert "code" in _problem(_upload(api, "officer_a", a, _etag(a), code=""), 422)["errors"]
    _problem(_upload(api, "officer_a", a, _etag(a), code="9.9"), 404)
    db.session.expire_all()
    assert _case("10001").version == a.version and evidence_ops.evidence_of(a) == []
    # a file of case a is not reachable through case b, nor by officer_b
    row = evidence_ops.add_evidence(a, "1.1.1", world.officers["10001"], now=utcnow(), file_name="a.pdf",
                                    data=PDF, media_type="application/pdf")
    db.session.commit()
    _problem(api("secretariat").get(f"/api/v1/cases/{b.id}/evidence/{row.id}/file"), 404)
    _problem(api("officer_b").get(f"/api/v1/cases/{a.id}/evidence/{row.id}/file"), 404)
    _problem(api("officer_a").get(f"/api/v1/cases/{a.id}/evidence/999999/file"), 404)
    assert api("secretariat").get(f"/api/v1/cases/{a.id}/evidence/{row.id}/file").status_code == 200


def test_not_applicable_where_forbidden_is_422_on_that_field_and_inner_nodes_are_404(api, world, db):
    a = _case("10001")
    item = next(i for i in a.campaign.criteria_set.leaves() if i.code == "1.1.1")
    item.not_applicable_allowed = False
    db.session.commit()
    url = f"/api/v1/cases/{a.id}/scores/1.1.1"
    problem = _problem(_patch(api, "officer_a", url, {"not_applicable": True}, _etag(a)), 422)
    assert list(problem["errors"]) == ["not_applicable"]
    _problem(_patch(api, "officer_a", f"/api/v1/cases/{a.id}/scores/1.1", {"self_score": 1}, _etag(a)), 404)
    # the scores list tells a client where N/A is allowed
    items = {i["code"]: i for i in api("officer_a").get(f"/api/v1/cases/{a.id}/scores").get_json()["items"]}
    assert items["1.1.1"]["not_applicable_allowed"] is False and items["1.1.2"]["not_applicable_allowed"] is True
