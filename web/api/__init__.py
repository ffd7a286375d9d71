"""The REST API under /api/v1 (flask-smorest): bearer tokens, problem+json errors, OpenAPI at /api/v1/openapi.json.

Every resource goes through the same access rules as the pages (workflow.access, workflow.queries).
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_smorest import Api as _SmorestApi
from flask_smorest.spec import prepare_response
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.routing import Map, PathConverter, Rule

from . import (
    audit,
    auth,
    campaigns,
    cases,
    communes,
    criteria_sets,
    deadlines,
    evidence,
    problems,
    scores,
    signoffs,
)
from .schemas import ProblemSchema

PREFIX = "/api/v1"
RESOURCES = (campaigns.blp, criteria_sets.blp, communes.blp, cases.blp, scores.blp, evidence.blp, signoffs.blp, deadlines.blp, audit.blp)


class Api(_SmorestApi):
    """flask-smorest, minus its app-wide error handler (the pages keep theirs); errors documented as problems."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        pass  # each API blueprint installs problems.install instead

    def _register_responses(self):
        import http

        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, problems.MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, problems.MEDIA_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


# the documentation page: Swagger UI from vendored files (web/static/vendor/swagger-ui), no token needed
docs = Blueprint("api_docs", __name__, url_prefix=PREFIX)


@docs.route("/docs")
def docs_page():
    """Swagger UI over /api/v1/openapi.json; its initialiser is web/static/js/api-docs.js (the CSP allows no
    inline script)."""
    return render_template("api/docs.html", spec_url=f"{PREFIX}/openapi.json")


# unknown paths under /api/v1 answer a problem too (a routing 404 belongs to no resource blueprint)
fallback = Blueprint("api_fallback", __name__, url_prefix=PREFIX)


@fallback.route("/<anything:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str):
    """404 for a path no resource has; 405 with Allow for a known path asked with another method."""
    allowed = _resource_rules().bind("api").allowed_methods(request.path)
    if allowed:
        raise MethodNotAllowed(valid_methods=sorted(allowed))
    return problems.problem(404, "No such API resource.")


def _resource_rules() -> Map:
    """The API's own routes without this fallback (which matches every path), built once per app."""
    found = current_app.extensions.get("cchc_api_rules")
    if found is None:
        rules = [Rule(r.rule, methods=r.methods, endpoint=r.endpoint) for r in current_app.url_map.iter_rules()
                 if r.rule.startswith(PREFIX + "/") and not r.endpoint.startswith(fallback.name + ".")]
        found = current_app.extensions["cchc_api_rules"] = Map(rules, converters=current_app.url_map.converters)
    return found


# setup of the module-level blueprints happens once, here; an app per test registers them again
for _blp in RESOURCES:
    _blp.before_request(auth.authenticate)
    problems.install(_blp)
problems.install(fallback)


class AnythingConverter(PathConverter):
    """Like ``path``, but newlines too (``%0A`` in a URL), so every unknown API path gets a problem."""

    regex = r"[\s\S]+"
    part_isolating = False  # it spans slashes (werkzeug infers this only when the regex names "/")


def init_app(app, csrf) -> Api:
    """Mount the API; its blueprints are CSRF-exempt because they never accept the session cookie."""
    app.url_map.converters["anything"] = AnythingConverter
    app.config.setdefault("API_TITLE", "CCHC Workflow API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "security": [{"bearerAuth": []}],
        "info": {"description": "Personal API tokens (My account > API tokens) as Authorization: Bearer <token>. "
                                "Errors are application/problem+json (RFC 9457). See docs/api.md."},
    })
    api = Api(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                       "description": "a personal API token (cchc_...)"})
    for blp in RESOURCES:
        csrf.exempt(blp)
        api.register_blueprint(blp)
    app.register_blueprint(docs)
    csrf.exempt(fallback)
    app.register_blueprint(fallback)
    return api
