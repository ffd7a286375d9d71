"""Errors as RFC 9457 problem details: one mapping from HTTP and workflow errors to application/problem+json."""

from __future__ import annotations

from flask import current_app, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from models import db
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted, TransitionRefused, WorkflowError

TYPE_BASE = "https://cchc.example.vn/problems/"
MEDIA_TYPE = "application/problem+json"

# the stable `type` code of each HTTP status the API answers with
HTTP_CODES = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    409: "conflict", 412: "precondition-failed", 413: "too-large", 415: "unsupported-media-type",
    422: "invalid-input", 428: "precondition-required", 500: "internal-error", 503: "unavailable",
}
WORKFLOW_STATUS = {NotFound: 404, NotPermitted: 403, Conflict: 409, InvalidInput: 422, TransitionRefused: 409}


def problem(status: int, detail: str | None = None, *, code: str | None = None, title: str | None = None,
            headers: dict | None = None, **extra):
    """A problem+json response."""
    from http import HTTPStatus

    body = {"type": TYPE_BASE + (code or HTTP_CODES.get(status, "error")),
            "title": title or HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    response.mimetype = MEDIA_TYPE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


LOCATIONS = frozenset({"json", "query", "headers", "form", "files", "path"})


def _flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """webargs' nested {location: {field: [msg]}} as {"field": [msg]} (dotted for nested fields)."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if not prefix and key in LOCATIONS:  # the location is not a field
                out.update(_flatten(value))
            else:
                out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


def handle_http(exc: HTTPException):
    data = getattr(exc, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if exc.code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="cchc"')
    if exc.code == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    messages = data.get("messages")
    if messages is not None:
        errors = _flatten(messages)
        status = exc.code or 422
        return problem(status, "The request has invalid fields: " + ", ".join(sorted(errors)) + ".",
                       code=HTTP_CODES.get(status), errors=errors, headers=headers)
    status = exc.code or 500
    detail = data.get("message") or (exc.description if status != 500 else None)
    return problem(status, detail, headers=headers, **{k: v for k, v in data.items()
                                                        if k in ("blockers", "transition", "errors")})


def handle_workflow(exc: WorkflowError):
    db.session.rollback()
    status = next((s for cls, s in WORKFLOW_STATUS.items() if isinstance(exc, cls)), 422)
    if isinstance(exc, NotFound):
        return problem(404, "No such resource.", code=exc.code)
    if isinstance(exc, TransitionRefused):
        return problem(409, exc.message, code=exc.code, transition=exc.transition,
                       blockers=[{"code": b.code, "reason": b.reason} for b in exc.blockers])
    if isinstance(exc, InvalidInput):
        return problem(422, exc.message, code=exc.code, errors=exc.errors or None)
    return problem(status, exc.message, code=exc.code)


def handle_server_error(exc: InternalServerError):
    # no stack trace, no exception text: those stay in the log
    db.session.rollback()
    current_app.logger.error("API error", exc_info=getattr(exc, "original_exception", None) or exc)
    return problem(500, "Something went wrong on our side; the request was not carried out.")


def handle_database_unavailable(exc: OperationalError):
    # a dropped connection or a busy database: the transaction rolled back, so nothing was changed
    db.session.rollback()
    current_app.logger.error("database unavailable", exc_info=exc)
    return problem(503, "The database is unavailable for a moment; the request was not carried out. Retry shortly.",
                   headers={"Retry-After": "5"})


def install(blueprint) -> None:
    """Every API blueprint answers its errors as problems (blueprint handlers outrank the page handlers)."""
    blueprint.register_error_handler(InternalServerError, handle_server_error)
    blueprint.register_error_handler(OperationalError, handle_database_unavailable)
    blueprint.register_error_handler(HTTPException, handle_http)
    blueprint.register_error_handler(WorkflowError, handle_workflow)
