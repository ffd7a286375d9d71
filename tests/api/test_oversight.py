"""API oversight resources: council sign-offs, deadlines and the reminder schedule, the audit log."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import AuditEvent, Case, Deadline, SignOff, db
from workflow import audit_export, cases, signoff
from workflow.clock import utcnow

PROBLEM = "application/problem+json"


def _case(code="10001") -> Case:
    return cases.get_case("tiny-2023", code)


def _status(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    if status >= 400:
        assert response.mimetype == PROBLEM
        if code:
            assert response.get_json()["type"].endswith("/" + code)
    return response.get_json()


@pytest.fixture
def pending(world):
    """A pending council sign-off of the 10001 case (as a plan's sign-off rule opens it)."""
    so = signoff.open_sign_off(_case(), "submit", world.secretariat, now=utcnow())
    db.session.commit()
    return so.id


# --- sign-offs --------------------------------------------------------------------------------------

def test_pending_sign_offs_for_council_only(api, pending):
    body = _status(api("council").get("/api/v1/sign-offs"), 200)
    assert body["total"] == 1 and body["items"][0]["id"] == pending
    item = body["items"][0]
    assert item["case_id"] == _case().id and item["commune"]["code"] == "10001" and item["status"] == "pending"
    assert item["case_version"] == _case().version and item["approvals"] == 0
    for role in ("officer_a", "secretariat", "auditor", "admin"):
        _status(api(role).get("/api/v1/sign-offs"), 403, "forbidden")


def _decide(api, so_id, body, version=None, role="council"):
    headers = {} if version is None else {"If-Match": f'"v{version}"'}
    return api(role).post(f"/api/v1/sign-offs/{so_id}/decision", json=body, headers=headers)


def test_approve_needs_current_if_match_and_answers_new_etag(api, pending):
    version = _case().version
    _status(_decide(api, pending, {"decision": "approve"}), 428)
    _status(_decide(api, pending, {"decision": "approve"}, version - 1), 412)
    response = _decide(api, pending, {"decision": "approve"}, version)
    body = _status(response, 200)
    db.session.expire_all()
    case = _case()
    assert response.headers["ETag"] == f'"v{case.version}"' and case.version > version
    assert [s.decision for s in db.session.get(SignOff, pending).signatures] == ["approve"]
    assert body["sign_off"]["approvals"] == 1
    # signed once: no longer pending for this member, and a second signature is refused
    assert _status(api("council").get("/api/v1/sign-offs"), 200)["total"] == 0
    _status(_decide(api, pending, {"decision": "approve"}, case.version), 422)


def test_reject_needs_a_comment_and_closes_the_sign_off(api, pending):
    version = _case().version
    body = _status(_decide(api, pending, {"decision": "reject"}, version), 422)
    assert "comment" in body["errors"]
    _status(_decide(api, pending, {"decision": "maybe"}, version), 422)
    body = _status(_decide(api, pending, {"decision": "reject", "comment": "scores unsupported"}, version), 200)
    assert body["sign_off"]["status"] == "rejected" and body["fired"] is False
    assert body["stage"] == "self_assessment"
    # closed: a further decision finds no pending sign-off
    _status(_decide(api, pending, {"decision": "approve"}, _case().version), 404)


def test_decision_refused_for_other_roles_and_unknown_sign_offs(api, pending, make, tokens):
    version = _case().version
    _status(_decide(api, pending, {"decision": "approve"}, version, role="secretariat"), 403)
    _status(_decide(api, pending + 999, {"decision": "approve"}, version), 404)
    _status(_decide(api, 2**40, {"decision": "approve"}, version), 404)
    assert db.session.get(SignOff, pending).signatures == []



def test_council_member_of_another_campaign_neither_sees_nor_signs(api, pending, make, tokens):
    from workflow import api_tokens

    make.campaign(key="other-2023", communes=("20001",))
    stranger = make.council[0]
    tokens["stranger"] = api_tokens.create_token(stranger, "x", now=utcnow())[1]
    db.session.commit()
    assert _status(api("stranger").get("/api/v1/sign-offs"), 200)["total"] == 0
    _status(_decide(api, pending, {"decision": "approve"}, _case().version, role="stranger"), 404, "not-found")
    assert db.session.get(SignOff, pending).signatures == []


def test_stale_if_match_names_the_current_etag(api, pending):
    version = _case().version
    response = _decide(api, pending, {"decision": "approve"}, version + 5)
    _status(response, 412)
    assert response.headers["ETag"] == f'"v{version}"'
    star = api("council").post(f"/api/v1/sign-offs/{pending}/decision", json={"decision": "approve"},
                               headers={"If-Match": "*"})
    _status(star, 428)

# --- deadlines and the reminder schedule ---------------------------------------------------------------

def test_case_deadlines_as_the_case_has_them(api, world):
    case = _case()
    body = _status(api("officer_a").get(f"/api/v1/cases/{case.id}/deadlines"), 200)
    rows = db.session.scalars(select(Deadline).where(Deadline.case_id == case.id)).all()
    assert body["case_id"] == case.id and len(body["items"]) == len(rows) >= 1
    first = body["items"][0]
    assert set(first) >= {"stage", "kind", "plan_due", "due", "explanation", "completed"}
    assert first["stage"] == "self_assessment" and first["completed"] is False
    assert _status(api("auditor").get(f"/api/v1/cases/{case.id}/deadlines"), 200)["items"] == body["items"]


def test_case_deadlines_of_another_commune_are_404(api, world):
    _status(api("officer_b").get(f"/api/v1/cases/{_case().id}/deadlines"), 404, "not-found")
    _status(api("officer_a").get("/api/v1/cases/999999/deadlines"), 404, "not-found")


def test_schedule_matches_the_cli_json_for_campaign_wide_readers(api, world):
    from workflow import reminders

    # the world's plan (2023) is past: move the open deadline ahead so it still has notices to send
    soon = utcnow().date() + dt.timedelta(days=40)
    for row in db.session.scalars(select(Deadline).where(Deadline.case_id == _case().id)):
        row.plan_due = row.due = soon
    db.session.commit()
    expected = [n.as_json() for n in reminders.schedule(world.campaign_obj, now=utcnow())]
    assert expected, "the world's plan sends reminders"
    body = _status(api("secretariat").get("/api/v1/campaigns/tiny-2023/schedule?per_page=100"), 200)
    assert body["total"] == len(expected) and body["items"] == expected[:100]
    assert set(body["items"][0]) == {"date", "due", "commune_code", "stage", "kind", "level", "recipients", "planned"}
    assert {item["planned"] for item in body["items"]} == {False}  # the open deadline; the 2023 plan's later stages are past
    page2 = _status(api("auditor").get("/api/v1/campaigns/tiny-2023/schedule?per_page=1&page=2"), 200)
    assert page2["items"] == expected[1:2]
    for role in ("officer_a", "chair_a"):
        _status(api(role).get("/api/v1/campaigns/tiny-2023/schedule"), 403, "forbidden")
    _status(api("secretariat").get("/api/v1/campaigns/no-such/schedule"), 404, "not-found")


# --- the audit log ---------------------------------------------------------------------------------------

def test_audit_events_in_seq_order_with_chain_fields_and_filters(api, world):
    all_events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    body = _status(api("auditor").get("/api/v1/audit/events?per_page=100"), 200)
    assert body["total"] == len(all_events) and [e["seq"] for e in body["items"]] == [e.seq for e in all_events][:100]
    first = body["items"][0]
    assert set(first) == set(audit_export.FIELDS)
    assert first["prev_hash"] == all_events[0].prev_hash and first["hash"] == all_events[0].hash
    # each event's hash chains to the next one's prev_hash
    assert all(a["hash"] == b["prev_hash"] for a, b in zip(body["items"], body["items"][1:], strict=False))
    case = _case()
    mine = _status(api("head").get(f"/api/v1/audit/events?case={case.id}&campaign=tiny-2023&per_page=100"), 200)
    assert mine["total"] >= 1 and {e["case_id"] for e in mine["items"]} == {case.id}
    assert {e["commune"] for e in mine["items"]} == {"10001"}
    action = all_events[-1].action
    only = _status(api("admin").get(f"/api/v1/audit/events?action={action}&per_page=100"), 200)
    assert only["total"] == sum(e.action == action for e in all_events)
    today = utcnow().date()
    none = _status(api("auditor").get(f"/api/v1/audit/events?from={today + dt.timedelta(days=2)}"), 200)
    assert none["total"] == 0 and none["items"] == []
    # a reversed range and an unknown campaign are refused, not an empty page
    _status(api("auditor").get(f"/api/v1/audit/events?from={today}&to={today - dt.timedelta(days=1)}"), 422,
            "invalid-input")
    _status(api("auditor").get("/api/v1/audit/events?campaign=no-such"), 404, "not-found")
    _status(api("auditor").get("/api/v1/audit/events?from=yesterday"), 422)


def test_audit_events_refused_to_other_roles(api, world):
    for role in ("officer_a", "chair_a", "secretariat", "leader", "council"):
        _status(api(role).get("/api/v1/audit/events"), 403, "forbidden")
        _status(api(role).post("/api/v1/audit/integrity"), 403, "forbidden")


def test_integrity_check_is_recorded_and_names_the_first_bad_event(api, world):
    from tests.workflow.test_audit import tamper

    body = _status(api("auditor").post("/api/v1/audit/integrity"), 200)
    assert body["ok"] is True and body["checked"] >= 1 and body["first_bad_seq"] is None
    recorded = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.verified"))
    assert recorded.seq == body["seq"] and recorded.actor == world.auditor.email
    victim = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()[1]
    seq = victim.seq
    tamper(db, f"UPDATE audit_events SET actor = 'intruder@example.vn' WHERE seq = {seq}")
    body = _status(api("admin").post("/api/v1/audit/integrity"), 200)
    assert body["ok"] is False and body["first_bad_seq"] == seq and body["checked"] == seq - 1
    assert "edited" in body["problem"]


def test_integrity_check_against_anchors_held_shows_a_rewrite(api, world):
    from tests.workflow.test_audit_anchor import rewrite_history

    first = _status(api("auditor").post("/api/v1/audit/integrity"), 200)
    assert first["anchors"] == [] and first["anchor"] == f"{first['seq']}:" + db.session.scalar(
        select(AuditEvent.hash).where(AuditEvent.seq == first["seq"]))
    rewrite_history(db, 2)
    plain = _status(api("auditor").post("/api/v1/audit/integrity", json={}), 200)
    assert plain["ok"] is True  # the chain alone cannot tell
    body = _status(api("auditor").post("/api/v1/audit/integrity", json={"anchors": [first["anchor"]]}), 200)
    assert body["ok"] is False and body["first_bad_seq"] == first["seq"] and "rewritten" in body["problem"]
    (held,) = body["anchors"]
    assert held["seq"] == first["seq"] and held["status"] == "differs" and held["found"] != held["hash"]
    recorded = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == body["seq"]))
    assert recorded.after["anchors"][0]["status"] == "differs"


def test_integrity_anchors_refused_naming_the_anchor_and_roles_checked_first(api, world):
    before = db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    body = _status(api("auditor").post("/api/v1/audit/integrity", json={"anchors": [f"1:{'ab' * 32}", "12:abc"]}),
                   422, "invalid-input")
    assert body["detail"] == "The request has invalid fields: anchors.1."
    assert body["errors"] == {"anchors.1": ["write each anchor as SEQ:HASH"]}
    _status(api("auditor").post("/api/v1/audit/integrity", json={"anchors": "1:ab"}), 422)
    # a caller who may not check is refused for that, whatever the body
    _status(api("officer_a").post("/api/v1/audit/integrity", json={"anchors": 5}), 403, "forbidden")
    assert db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == before


# --- who and what before the body ---------------------------------------------------------------------

BAD_BODIES = ({"reason": 5, "revision_due": "not a date"}, {"self_score": [], "nonsense": True},
              {"decision": 7})


def test_a_missing_case_or_a_refused_caller_is_answered_as_such_whatever_the_body(api, world, pending):
    """404 for another commune's case or a missing sub-criterion, 403 for a role that may not act: the
    same answer a well-formed body gets, never 422 for a malformed one (which says nothing of who may)."""
    mine, theirs = _case("10001"), _case("10002")
    before = db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    for body in BAD_BODIES:
        # another commune's case is no case for officer_a, and a transition that does not exist is none either
        _status(api("officer_a").post(f"/api/v1/cases/{theirs.id}/transitions/submit", json=body), 404, "not-found")
        _status(api("officer_a").post(f"/api/v1/cases/{mine.id}/transitions/no_such", json=body), 404, "not-found")
        # the auditor sees the case but may not fire: 403 naming the roles
        refused = _status(api("auditor").post(f"/api/v1/cases/{mine.id}/transitions/submit", json=body), 403,
                          "forbidden")
        assert "needs one of the roles" in refused["detail"]
        client = api("officer_a")
        for url in (f"/api/v1/cases/{theirs.id}/scores/1.1.2", f"/api/v1/cases/{mine.id}/scores/9.9.9"):
            _status(client.client.patch(url, json=body, headers=client._headers(None)), 404, "not-found")
        # sign-off decisions: a non-member is refused, a member asking for another sign-off finds none
        _status(api("officer_a").post(f"/api/v1/sign-offs/{pending}/decision", json=body), 403, "forbidden")
        _status(api("council").post(f"/api/v1/sign-offs/{pending + 999}/decision", json=body), 404, "not-found")
    # and the caller who may act still gets 422 naming the field of a malformed body
    client = api("officer_a")
    bad = client.client.patch(f"/api/v1/cases/{mine.id}/scores/1.1.2", json={"self_score": []},
                              headers=client._headers({"If-Match": f'"v{mine.version}"'}))
    assert bad.status_code == 422 and "self_score" in bad.get_json()["errors"]
    assert db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == before
