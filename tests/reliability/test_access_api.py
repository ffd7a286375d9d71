"""The API's authorisation matrix: every endpoint of the URL map × the 9 roles × own / other commune.

Each role is held alone by one user (the commune roles by commune A's people). Every request is built so
that an ALLOWED caller gets a known non-refusal answer that changes nothing (200 on reads; on writes a
value, guard or body refusal: 409, 422), while a refused one gets 403 (may see the case, not do this) or
404 (may not see it: the same answer as "missing"). The expected status comes from workflow.access, the
rules the pages use; a new API route fails here until it is given its expectation in ENDPOINTS.
"""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Case, CouncilSeat, Evidence, Score, SignOff, db
from states import TRANSITIONS, Role, Stage
from tests.api.conftest import fresh_g_per_request  # noqa: F401  (one g per request, as in production)
from workflow import access, api_tokens, cases, evidence, signoff
from workflow.clock import utcnow

PREFIX = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
AUDIT_READERS = {Role.auditor, Role.admin, Role.secretariat_head}  # web/auditor.py, web/api/audit.py
PUBLIC = {"api_docs.docs_page", "api-docs.openapi_json"}  # readable without a token


@pytest.fixture
def env(make, db, now):
    """Cases of communes A (10001) and B (10002), both in self-assessment with a file and a pending sign-off;
    one user per role (commune roles of A; council roles with a seat)."""
    campaign = make.campaign()
    a, b = make.case_of(campaign, "10001"), make.case_of(campaign, "10002")
    for case in (a, b):
        make.advance(case, Stage.self_assessment)
        evidence.add_evidence(case, "1.1.1", make.officers[case.commune.code], now=now, file_name="kh.pdf",
                              data=PDF, media_type="application/pdf")
    db.session.flush()
    pending = {case.commune.code: signoff.open_sign_off(case, "submit", make.secretariat, now=now).id
               for case in (a, b)}
    commune_a = a.commune
    users = {}
    for role in Role:
        commune = commune_a if role in (Role.commune_officer, Role.commune_chair) else None
        users[role] = make.user(f"only-{role.value}@matrix.example.vn", role, commune=commune)
        if role in (Role.council_member, Role.council_chair):
            campaign.council.append(CouncilSeat(user=users[role], is_chair=False))
    db.session.flush()
    tokens = {role: api_tokens.create_token(user, "matrix", now=utcnow())[1] for role, user in users.items()}
    db.session.commit()
    files = {c.commune.code: db.session.scalar(select(Evidence.id).where(Evidence.case_id == c.id)) for c in (a, b)}
    return {"campaign": campaign, "cases": {"10001": a, "10002": b}, "users": users, "tokens": tokens,
            "files": files, "sign_offs": pending}


# --- what each endpoint asks, and who may have it ----------------------------------------------------

def _sees(user, case) -> bool:
    return access.can_view_case(user, case)


def _case_read(user, case) -> int:
    return 200 if _sees(user, case) else 404


def _fire_submit(user, case) -> int:
    # "submit" is blocked by its guards (no scores yet): 409 for whoever may fire it
    if not _sees(user, case):
        return 404
    return 403 if access.fire_refusal(user, case, TRANSITIONS["submit"]) else 409


def _self_scorer(user, case) -> int:
    # commune A's officer and chair may self-assess (the value is refused: 422); others who see it: 403
    if not _sees(user, case):
        return 404
    return 422 if user.roles & {Role.commune_officer, Role.commune_chair} and access.in_commune_scope(user, case) \
        else 403


def _evidence_uploader(user, case) -> int:
    # only the commune's officer adds evidence (the file type is refused: 422)
    if not _sees(user, case):
        return 404
    return 422 if Role.commune_officer in user.roles and access.in_commune_scope(user, case) else 403


def _sign_off_decision(user, case) -> int:
    # a council member with a seat may decide (a rejection without a comment is refused: 422)
    if not user.roles & {Role.council_member, Role.council_chair}:
        return 403
    return 422 if access.holds_seat(user, case.campaign_id) else 404


def _campaign_wide(user, case) -> int:
    return 200 if user.roles & access.CAMPAIGN_WIDE_READERS else 403


def _audit_reader(user, case) -> int:
    return 200 if user.roles & AUDIT_READERS else 403


def _council(user, case) -> int:
    return 200 if user.roles & {Role.council_member, Role.council_chair} else 403


def _admin_loader(user, case) -> int:
    return 422 if Role.admin in user.roles else 403  # an empty plan: refused with its problems


def _anyone(user, case) -> int:
    return 200


# endpoint -> (method, URL template, request extras, expected(user, case))
ENDPOINTS = {
    "api_campaigns.list_campaigns": ("GET", "/campaigns", {}, _anyone),
    "api_campaigns.get_campaign": ("GET", "/campaigns/{key}", {}, _anyone),
    "api_campaigns.load_plan": ("POST", "/campaigns", {"json": {}}, _admin_loader),
    "api_criteria_sets.load_criteria": ("POST", "/criteria-sets", {"json": {}}, _admin_loader),
    "api_communes.list_communes": ("GET", "/communes", {}, _anyone),
    "api_communes.get_commune": ("GET", "/communes/{code}", {}, _case_read),
    "api_cases.list_cases": ("GET", "/cases", {}, _anyone),
    "api_cases.get_case": ("GET", "/cases/{case_id}", {}, _case_read),
    "api_cases.readiness": ("GET", "/cases/{case_id}/readiness", {}, _case_read),
    "api_cases.fire": ("POST", "/cases/{case_id}/transitions/submit", {"json": {}, "etag": True}, _fire_submit),
    "api_scores.list_scores": ("GET", "/cases/{case_id}/scores", {}, _case_read),
    "api_scores.patch_score": ("PATCH", "/cases/{case_id}/scores/1.1.1", {"json": {"self_score": "9"}, "etag": True},
                               _self_scorer),
    "api_evidence.list_evidence": ("GET", "/cases/{case_id}/evidence", {}, _case_read),
    "api_evidence.upload": ("POST", "/cases/{case_id}/evidence", {"upload": True, "etag": True}, _evidence_uploader),
    "api_evidence.download": ("GET", "/cases/{case_id}/evidence/{evidence_id}/file", {}, _case_read),
    "api_deadlines.case_deadlines": ("GET", "/cases/{case_id}/deadlines", {}, _case_read),
    "api_deadlines.campaign_schedule": ("GET", "/campaigns/{key}/schedule", {}, _campaign_wide),
    "api_signoffs.pending": ("GET", "/sign-offs", {}, _council),
    "api_signoffs.decide": ("POST", "/sign-offs/{sign_off_id}/decision",
                            {"json": {"decision": "reject"}, "etag": True}, _sign_off_decision),
    "api_audit.events": ("GET", "/audit/events", {}, _audit_reader),
    "api_audit.integrity": ("POST", "/audit/integrity", {}, _audit_reader),
    "api_docs.docs_page": ("GET", "/docs", {}, _anyone),
    "api-docs.openapi_json": ("GET", "/openapi.json", {}, _anyone),
}
NOT_RESOURCES = {"api_fallback.unknown"}  # answers 404/405 problems for paths no resource has


def test_every_api_route_has_its_expectation(app):
    routed = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX + "/")} - NOT_RESOURCES
    assert routed == set(ENDPOINTS), f"give the access matrix the new endpoints' rules: {routed ^ set(ENDPOINTS)}"
    spec = app.test_client().get(f"{PREFIX}/openapi.json").get_json()
    documented = {(method.upper(), path.removeprefix(PREFIX)) for path, ops in spec["paths"].items()
                  for method in ops if method in ("get", "post", "put", "patch", "delete")}
    matrix = {(method, template.replace("/transitions/submit", "/transitions/{name}")
               .replace("/scores/1.1.1", "/scores/{code}"))
              for endpoint, (method, template, _extra, _rule) in ENDPOINTS.items() if endpoint not in PUBLIC}
    assert documented == matrix  # every documented operation is in the matrix, and nothing else


def _state() -> tuple:
    """What a matrix request must leave as it was (the integrity check adds its own audit event only)."""
    return (tuple(db.session.execute(select(Case.id, Case.stage, Case.version).order_by(Case.id)).all()),
            db.session.scalar(select(func.count(Score.id))),
            db.session.scalar(select(func.count(Evidence.id))),
            tuple(db.session.execute(select(SignOff.id, SignOff.status).order_by(SignOff.id)).all()),
            db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action != "audit.verified")))


def test_matrix_of_nine_roles_by_own_and_other_commune(app, env):
    client = app.test_client()
    before = _state()
    seen, wrong = 0, []
    for target in ("10001", "10002"):  # own commune (A) for the commune roles, then another (B)
        case = env["cases"][target]
        values = {"key": env["campaign"].key, "code": target, "case_id": case.id,
                  "evidence_id": env["files"][target], "sign_off_id": env["sign_offs"][target]}
        for role, user in env["users"].items():
            for endpoint, (method, template, extra, expected) in ENDPOINTS.items():
                headers = {"Authorization": f"Bearer {env['tokens'][role]}"}
                if extra.get("etag"):
                    db.session.expire_all()
                    headers["If-Match"] = f'"v{db.session.get(Case, case.id).version}"'
                kwargs = {"json": extra["json"]} if "json" in extra else {}
                if extra.get("upload"):
                    kwargs = {"data": {"code": "1.1.1", "file": (io.BytesIO(b"MZ\x90\x00"), "x.exe")},
                              "content_type": "multipart/form-data"}
                url = PREFIX + template.format(**values)
                response = client.open(url, method=method, headers=headers, **kwargs)
                want = expected(user, case)
                if response.status_code != want:
                    wrong.append((role.value, target, method, url, want, response.status_code,
                                  response.get_data(as_text=True)[:160]))
                elif want >= 400:
                    assert response.mimetype == "application/problem+json", (endpoint, role)
                response.close()
                seen += 1
    assert not wrong, "\n".join(map(str, wrong))
    assert seen == 2 * len(Role) * len(ENDPOINTS)
    assert _state() == before  # no request of the matrix changed a case, a score, a file or a sign-off


def test_a_commune_officer_of_a_gets_404_on_every_route_naming_bs_case(app, env):
    """The headline rule, spelled out: every case route for commune B's case answers A's officer 404."""
    b = env["cases"]["10002"]
    token = env["tokens"][Role.commune_officer]
    client = app.test_client()
    for endpoint, (method, template, extra, _) in ENDPOINTS.items():
        if "{case_id}" not in template:
            continue
        url = PREFIX + template.format(case_id=b.id, evidence_id=env["files"]["10002"])
        headers = {"Authorization": f"Bearer {token}", "If-Match": f'"v{b.version}"'}
        response = client.open(url, method=method, headers=headers, json=extra.get("json"))
        assert response.status_code == 404, (endpoint, response.get_data(as_text=True))
        assert response.get_json()["type"].endswith("/not-found")
    assert cases.get_case("tiny-2023", "10002").version == b.version
