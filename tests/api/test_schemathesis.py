"""Property-based: schemathesis generates requests from the served OpenAPI document, as every role.

No 5xx, and every response matches its own documented status, media type, headers and schema. Random ids
mostly miss, so each case operation also runs against the world's real cases (with their current ETag).
Eight users hold the nine roles between them (the council's first member is its chair too); a few
examples per operation and role keep the whole run near 50 s.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from models import Case, db
from workflow import cases

MODES = {GenerationMode.POSITIVE: 2, GenerationMode.NEGATIVE: 1}
REAL_EXAMPLES = 2
# bodies or queries whose acceptance depends on more than their schema: a plan or criteria file is checked
# as a whole and against the database (workflow.plans), and an audit search refuses `from` after `to`
BEYOND_SCHEMA = {("POST", "/api/v1/campaigns"), ("POST", "/api/v1/criteria-sets"), ("GET", "/api/v1/audit/events")}
TRANSITION_NAMES = ("open", "submit", "return_for_revision", "complete_appraisal")
# the world's users and the roles they hold
USERS = {"officer_a": "commune_officer", "chair_a": "commune_chair", "secretariat": "secretariat",
         "head": "secretariat + secretariat_head", "leader": "authority_leader", "auditor": "auditor",
         "admin": "admin", "council": "council_member + council_chair"}


@schemathesis.serializer("application/yaml")
def _yaml(ctx, value):
    """Plan bodies (POST /campaigns, /criteria-sets) as YAML text."""
    return yaml.safe_dump(value, allow_unicode=True).encode("utf-8")


def _run(operation, token, mode, examples, path_parameters=None) -> list[int]:
    statuses = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def check(case):
        headers = {"Authorization": f"Bearer {token}"}
        case_id = (path_parameters or {}).get("case_id")
        if case_id is not None and case.method in ("POST", "PATCH", "PUT"):
            db.session.expire_all()
            headers["If-Match"] = f'"v{db.session.get(Case, case_id).version}"'
        response = case.call(headers=headers)
        statuses.append(response.status_code)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        beyond = (case.method.upper(), case.operation.path) in BEYOND_SCHEMA
        excluded = [positive_data_acceptance] if beyond else []  # there, a schema-valid request may be a 422
        case.validate_response(response, headers=headers, excluded_checks=excluded)

    check()
    return statuses


@pytest.mark.parametrize("role", sorted(USERS))
def test_generated_requests_find_no_server_error_and_no_schema_break(app, world, tokens, role):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    real = [cases.get_case("tiny-2023", code).id for code in ("10001", "10002")]
    statuses = []
    for n, result in enumerate(schema.get_all_operations()):
        operation = result.ok()
        for mode, examples in MODES.items():
            statuses += _run(operation, tokens[role], mode, examples)
        if "{case_id}" in operation.path:
            # one transition per operation and role, in turn, so every name runs over the roles
            names = (TRANSITION_NAMES[(n + sorted(USERS).index(role)) % len(TRANSITION_NAMES)],) \
                if "{name}" in operation.path else (None,)
            for case_id in real:
                for name in names:
                    fixed = {"case_id": case_id, **({"name": name} if name else {})}
                    statuses += _run(operation, tokens[role], GenerationMode.POSITIVE, REAL_EXAMPLES, fixed)
        if "{key}" in operation.path:
            statuses += _run(operation, tokens[role], GenerationMode.POSITIVE, REAL_EXAMPLES, {"key": "tiny-2023"})
        if "{code}" in operation.path and "{case_id}" not in operation.path:
            statuses += _run(operation, tokens[role], GenerationMode.POSITIVE, REAL_EXAMPLES, {"code": "10001"})
    assert len(statuses) >= 60
    print(role, USERS[role], len(statuses), sorted(Counter(statuses).items()))
    assert statuses.count(200) >= 10  # a good part of the run reached real data, not only refusals
