"""Fixtures: an app per test on a real, migrated database (SQLite, or PostgreSQL via TEST_DATABASE_URL)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text

from config import ROOT, TestingConfig
from web import create_app

BASE_PG_URL = os.environ.get("TEST_DATABASE_URL")
# Under pytest-xdist (scripts/test runs two workers) each worker has its own database, named
# "<TEST_DATABASE_URL's database>_<worker>" (e.g. test_gw0), created by the first run that needs it.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
PG_URL = (make_url(BASE_PG_URL).set(database=f"{make_url(BASE_PG_URL).database}_{WORKER}")
          .render_as_string(hide_password=False) if BASE_PG_URL and WORKER else BASE_PG_URL)

# A fixed "now" for tests that do not care about the clock: 1 Nov 2023, 09:00 in Hà Nội.
NOW = dt.datetime(2023, 11, 1, 2, 0, tzinfo=dt.UTC)


def _make_app(url: str, tmp: Path):
    return create_app({
        **{k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()},
        "SQLALCHEMY_DATABASE_URI": url,
        "EVIDENCE_DIR": str(tmp / "evidence"),
    })


def _create_database(server_url: str, name: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory):
    """Run the Alembic migrations once: into a template SQLite file, or into the PostgreSQL test db."""
    if PG_URL:
        if PG_URL != BASE_PG_URL:
            _create_database(BASE_PG_URL, make_url(PG_URL).database)
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        app = _make_app(PG_URL, tmp_path_factory.mktemp("pg"))
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            from models import db

            db.engine.dispose()
        _no_autovacuum(PG_URL)
        yield PG_URL
        if _reset_engine is not None:
            _reset_engine.dispose()
    else:
        yield _sqlite_template(tmp_path_factory)


def _sqlite_template(tmp_path_factory) -> Path:
    template = tmp_path_factory.mktemp("template") / "template.sqlite3"
    app = _make_app(f"sqlite:///{template}", template.parent)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        from models import db

        db.engine.dispose()
    return template


_reset_engine = None


def _no_autovacuum(url: str) -> None:
    """The per-test reset DELETEs rows (below); a vacuum would then hand their space to the next test's inserts,
    and a SELECT without ORDER BY would no longer return rows in insertion order as on the fresh tables TRUNCATE
    left (some tests rely on that). Without autovacuum on the test database, inserts go to the end of the heap."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for (table,) in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")):
            conn.execute(text(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false, '
                              "toast.autovacuum_enabled = false)"))
    engine.dispose()


def _reset_postgres(url: str) -> None:
    """Empty every table of the app and restart its sequences, as a fresh migration leaves them.

    DELETE on the tests' small tables, not TRUNCATE: TRUNCATE gives each of ~34 tables (and its indexes) new
    files, ~0.15-1.4 s a test on a busy machine against ~10 ms here. One round trip, on one kept connection.
    """
    global _reset_engine
    if _reset_engine is None:
        _reset_engine = create_engine(url, pool_size=1, pool_pre_ping=True)
    with _reset_engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
        sequences = [r[0] for r in conn.execute(text(
            "SELECT sequencename FROM pg_sequences WHERE schemaname='public'"))]
        conn.exec_driver_sql(
            "SET LOCAL session_replication_role = replica;"  # past the append-only triggers and foreign keys
            + "".join(f'DELETE FROM "{table}";' for table in tables)
            + ("SELECT " + ", ".join(f"setval('\"{seq}\"', 1, false)" for seq in sequences) + ";" if sequences else "")
            + f"INSERT INTO audit_head (id, seq, last_hash) VALUES (1, 0, '{'0' * 64}')")


@pytest.fixture
def database_url(migrated_database, tmp_path):
    if PG_URL:
        _reset_postgres(PG_URL)
        return PG_URL
    target = tmp_path / "test.sqlite3"
    shutil.copyfile(migrated_database, target)
    return f"sqlite:///{target}"


@pytest.fixture
def app(database_url, tmp_path):
    app = _make_app(database_url, tmp_path)
    with app.app_context():
        yield app
        from models import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def db(app):
    from models import db as _db

    return _db


@pytest.fixture
def dialect(db):
    return db.engine.dialect.name


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def make(db):
    from tests.factories import Factory

    return Factory(db)


@pytest.fixture
def world(make, db):
    """A two-commune campaign whose every user has ``PASSWORD``; commune 10001's case is in self-assessment."""
    from states import Stage
    from tests.web.helpers import password_hash

    campaign = make.campaign()
    for user in (*make.officers.values(), *make.chairs.values(), make.secretariat, make.head, make.leader,
                 *make.council, make.auditor, make.admin):
        user.password_hash = password_hash()
    a = make.case_of(campaign, "10001")
    make.advance(a, Stage.self_assessment)
    db.session.commit()
    return make
