"""The composition root: ``create_app`` builds the Flask app and wires every part."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import ROOT, BaseConfig, config_from_env

from .extensions import init_db


def create_app(config: type[BaseConfig] | dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    app.config.from_object(config_from_env() if config is None or isinstance(config, dict) else config)
    if isinstance(config, dict):
        app.config.update(config)
    app.config.setdefault("MIGRATIONS_DIR", ROOT / "migrations")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # the client's address (login throttling) and scheme come from the proxies' headers, trusting
        # exactly that many hops: a client's own X-Forwarded-For beyond them is not believed
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    init_db(app)

    import notifications

    notifications.init_app(app)

    from .cli import register_cli

    register_cli(app)

    from . import (
        account,
        admin,
        assess,
        auditor,
        auth,
        board,
        case_actions,
        council,
        errors,
        i18n,
        messages,
        nav,
        pages,
        security,
    )

    i18n.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    nav.init_app(app)
    security.init_app(app)
    messages.init_app(app)
    for module in (pages, board, case_actions, assess, council, auditor, admin, account):
        app.register_blueprint(module.bp)

    from .feeds import bp as feeds_bp
    from .health import bp as health_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(feeds_bp)

    from .campaign_rollover import bp as rollover_bp
    from .dashboard import bp as dashboard_bp

    app.register_blueprint(dashboard_bp)
    app.register_blueprint(rollover_bp)

    from .results import bp as results_bp

    app.register_blueprint(results_bp)

    from .survey import bp as survey_bp

    app.register_blueprint(survey_bp)

    from .remediation import bp as remediation_bp

    app.register_blueprint(remediation_bp)

    from . import api

    api.init_app(app, auth.csrf)
    return app
