"""Property-based: schemathesis generates requests from the served OpenAPI document, as two roles.

No 5xx, and every response matches its own documented status, media type, headers and schema. Random ids
mostly miss, so each case operation also runs against the world's real cases (with their current ETag).
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from models import Case, db
from workflow import cases

MODES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 8}
TRANSITION_NAMES = ("open", "submit", "return_for_revision", "complete_appraisal")


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
        case.validate_response(response, headers=headers)

    check()
    return statuses


@pytest.mark.parametrize("role", ["officer_a", "secretariat"])
def test_generated_requests_find_no_server_error_and_no_schema_break(app, world, tokens, role):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    real = [cases.get_case("tiny-2023", code).id for code in ("10001", "10002")]
    statuses = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in MODES.items():
            statuses += _run(operation, tokens[role], mode, examples)
        if "{case_id}" in operation.path:
            names = TRANSITION_NAMES if "{name}" in operation.path else (None,)
            for case_id in real:
                for name in names:
                    fixed = {"case_id": case_id, **({"name": name} if name else {})}
                    statuses += _run(operation, tokens[role], GenerationMode.POSITIVE, 5, fixed)
        if "{key}" in operation.path:
            statuses += _run(operation, tokens[role], GenerationMode.POSITIVE, 5, {"key": "tiny-2023"})
    assert len(statuses) >= 200
    print(role, len(statuses), sorted(Counter(statuses).items()))
    assert statuses.count(200) >= 30  # a good part of the run reached real data, not only refusals
