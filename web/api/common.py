"""What the API's resources share: pages of results and the case ETag / If-Match rules."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import g, request
from flask_smorest import abort

from models import Campaign, Case
from workflow import queries

from .auth import caller
from .problems import MEDIA_TYPE
from .schemas import ProblemSchema

# If-Match as the OpenAPI document states it on every operation that changes a case
IF_MATCH = {"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"},
            "description": 'the ETag of the case as last read, e.g. "v3" (missing: 428, stale: 412)'}


def problem_doc(blp, status: int, description: str):
    """Document a problem+json answer of ``status`` on an operation of ``blp``."""
    return blp.alt_response(status, schema=ProblemSchema, description=description, content_type=MEDIA_TYPE)


def etag_headers() -> dict:
    """The ETag response header, as documented on every answer that carries a case version."""
    return {"ETag": {"description": 'the case version, e.g. "v3"; send it back in If-Match to change the case',
                     "schema": {"type": "string"}}}


def paginate(rows: list, args: dict) -> dict:
    """One page of ``rows`` (already in their stable order) in the envelope {items, page, per_page, total}."""
    page, per_page = args["page"], args["per_page"]
    start = (page - 1) * per_page
    return {"items": rows[start:start + per_page], "page": page, "per_page": per_page, "total": len(rows)}


def case_or_404(case_id: int) -> Case:
    """The case if the caller may see it: 404 for "missing" and "not yours" alike (as on the pages).
    Read once per request (``before_body`` checks may have read it already)."""
    seen = g.setdefault("api_cases", {})
    found = seen.get(case_id) or queries.visible_case(caller(), case_id)  # ids beyond an integer: no case
    if found is None:
        abort(404, message="No such case.")
    seen[case_id] = found
    return found


def before_body(check: Callable[..., None]):
    """Run ``check`` with the path's arguments before flask-smorest reads the body (place it above
    ``@blp.arguments``): a missing resource (404) or a refused caller (403) is answered as such whatever
    the body, rather than 422 for a malformed one."""

    def wrap(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            check(**kwargs)
            return view(*args, **kwargs)

        return checked

    return wrap


def visible_campaign_or_404(key: str) -> Campaign:
    """The campaign named by a filter, if the caller sees any of its cases: 404 otherwise (not an empty page)."""
    found = next((c for c in queries.campaigns_visible_to(caller()) if c.key == key), None)
    if found is None:
        abort(404, message=f"No such campaign: {key}.")
    return found


def etag_of(case: Case) -> str:
    return f"v{case.version}"


def with_etag(response, case: Case):
    response.set_etag(etag_of(case))
    return response


def required_version(case: Case) -> int:
    """The case version named by If-Match: 428 without one, 412 when it is no longer current."""
    if "If-Match" not in request.headers:
        abort(428, message="Send If-Match with the case's ETag (from GET /api/v1/cases/{id}).")
    tags = request.if_match
    if tags.star_tag or not tags:
        abort(428, message="If-Match must name the case's ETag, not '*'.")
    if not tags.contains_weak(etag_of(case)):
        abort(412, message="The case changed since that ETag; GET it again.", headers={"ETag": f'"{etag_of(case)}"'})
    return case.version
