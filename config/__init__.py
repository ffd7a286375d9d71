"""Settings classes, read from the environment. Pick one with ``config_from_env()``."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class BaseConfig:
    """Defaults shared by every environment; each value can be overridden by an env var."""

    ENV_NAME = "base"
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{ROOT / 'instance' / 'cchc.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    EVIDENCE_DIR = os.environ.get("EVIDENCE_DIR", str(ROOT / "instance" / "evidence"))
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_BYTES", str(25 * 1024 * 1024)))
    EVIDENCE_MAX_BYTES = int(os.environ.get("EVIDENCE_MAX_BYTES", str(20 * 1024 * 1024)))
    ADMIN_UPLOAD_MAX_BYTES = int(os.environ.get("ADMIN_UPLOAD_MAX_BYTES", str(2 * 1024 * 1024)))  # plan/criteria
    BABEL_DEFAULT_LOCALE = "vi"
    BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _bool("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "cchc-workflow@example.vn")
    MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", "10"))

    SCHEDULER_IN_WEB = _bool("SCHEDULER_IN_WEB", False)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # login throttling: N failures for one e-mail (or M from one address) within the window lock it
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))
    LOGIN_ADDRESS_MAX_FAILURES = int(os.environ.get("LOGIN_ADDRESS_MAX_FAILURES", "20"))
    LOGIN_LOCKOUT_MINUTES = int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15"))
    # reverse proxies in front that set X-Forwarded-For/-Proto (nginx: 1). 0 ignores those headers, which
    # a client could forge; behind a proxy, without it every client has the proxy's address (one lockout for all)
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))


class DevelopmentConfig(BaseConfig):
    """The embedded demo: SQLite, a throwaway secret, scheduler inside the web process."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-not-secret"
    SCHEDULER_IN_WEB = _bool("SCHEDULER_IN_WEB", True)


class TestingConfig(BaseConfig):
    """Used by the test suite; the database URL is set by the fixtures."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "test-secret"
    WTF_CSRF_ENABLED = True
    SCHEDULER_IN_WEB = False
    MAIL_PORT = 0


class ProductionConfig(BaseConfig):
    """PostgreSQL, secure cookies; refuses to start without SECRET_KEY and DATABASE_URL."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    @classmethod
    def check(cls) -> None:
        if not os.environ.get("SECRET_KEY"):
            raise RuntimeError("SECRET_KEY must be set in production (refusing to start)")
        if not os.environ.get("DATABASE_URL"):
            raise RuntimeError("DATABASE_URL must be set in production (refusing to start)")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[BaseConfig]:
    """The settings class named by CCHC_ENV (development by default)."""
    name = os.environ.get("CCHC_ENV", "development").lower()
    try:
        cls = CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"CCHC_ENV={name!r} is not one of {', '.join(CONFIGS)}") from None
    if cls is ProductionConfig:
        cls.check()
    return cls
