"""The history: an attacker with database access who edits, deletes or reorders audit rows (past the
append-only triggers) is caught by the real `flask audit verify`, which names the first bad event; a backup
taken as docs/deploy.md says and restored to a fresh database verifies and serves the same case board."""

from __future__ import annotations

import re
import sqlite3
import subprocess

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from models import AuditEvent
from states import Stage
from tests.web.conftest import fresh_g_per_request  # noqa: F401 - a fresh g per request (CSRF, user)
from tests.web.helpers import logged_in
from web import create_app


@pytest.fixture
def history(world, make, db):
    """A case taken through self-assessment and appraisal: a chain of a few dozen events."""
    case = make.case_of(make.campaign_obj, "10002")
    make.advance(case, Stage.survey)
    db.session.commit()
    seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert len(seqs) >= 10 and seqs == list(range(1, len(seqs) + 1))
    return seqs


def _verify(app):
    """`flask audit verify` through Flask's CLI runner: (exit code, output)."""
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def _tamper(db, dialect, *statements: str) -> None:
    """Run SQL past the append-only triggers, as an attacker with database access would."""
    with db.engine.begin() as conn:
        if dialect == "postgresql":
            conn.execute(text("SET session_replication_role = replica"))  # triggers do not fire
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        for statement in statements:
            conn.execute(text(statement))
        if dialect == "postgresql":
            conn.execute(text("SET session_replication_role = DEFAULT"))
    db.session.expire_all()


def _id_of(db, seq: int) -> int:
    return db.session.scalar(select(AuditEvent.id).where(AuditEvent.seq == seq))


# (what the attacker does, the seq verify must name, the words of its problem)
TAMPERING = {
    "edit a field": (lambda n: [f"UPDATE audit_events SET actor = 'someone-else@example.vn' WHERE seq = {n // 2}"],
                     lambda n: n // 2, "edited"),
    "edit the JSON": (lambda n: [f"UPDATE audit_events SET after = NULL WHERE seq = {n - 2}"],
                      lambda n: n - 2, "edited"),
    "delete one": (lambda n: ["DELETE FROM audit_events WHERE seq = 4"], lambda n: 5, "deleted"),
    "delete the tail": (lambda n: [f"DELETE FROM audit_events WHERE seq >= {n - 1}"], lambda n: n - 1, "tail deleted"),
    "swap two": (lambda n: ["UPDATE audit_events SET seq = -1 WHERE seq = 3",
                            "UPDATE audit_events SET seq = 3 WHERE seq = 6",
                            "UPDATE audit_events SET seq = 6 WHERE seq = -1"], lambda n: 3, "prev_hash does not match"),
    "forge the hash too": (lambda n: ["UPDATE audit_events SET hash = prev_hash WHERE seq = 7"],
                           lambda n: 7, "edited"),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_verify_names_the_first_tampered_event(app, db, dialect, history, kind):
    statements, first_bad, words = TAMPERING[kind]
    n = len(history)
    code, out = _verify(app)
    assert code == 0 and f"{n} events verified" in out
    _tamper(db, dialect, *statements(n))
    bad_id = _id_of(db, first_bad(n)) if kind != "delete the tail" else None  # the row now at that place
    code, out = _verify(app)
    assert code != 0, out
    assert f"BROKEN at event seq {first_bad(n)}" in out and words in out, out
    if bad_id is not None:
        assert f"(id {bad_id})" in out, out


# --- backup and restore (docs/deploy.md, "Backup and restore") ----------------------------------------

def _board(app, user) -> str:
    """/board as ``user`` sees it, without the per-session CSRF tokens."""
    client = logged_in(app, user)
    html = client.get("/board?as_of=2023-11-20").get_data(as_text=True)
    return re.sub(r'name="csrf_token"[^>]*value="[^"]*"|value="[^"]*"[^>]*name="csrf_token"', "", html)


def _backup_and_restore(database_url: str, dialect: str, tmp_path) -> tuple[str, object]:
    """The documented procedure: (the restored database's URL, a function that drops it)."""
    if dialect == "sqlite":
        source = make_url(database_url).database
        backup, restored = tmp_path / "backup.sqlite3", tmp_path / "restored.sqlite3"
        subprocess.run(["sqlite3", source, f".backup '{backup}'"], check=True, timeout=60)
        subprocess.run(["sqlite3", str(restored), f".restore '{backup}'"], check=True, timeout=60)
        with sqlite3.connect(restored) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return f"sqlite:///{restored}", lambda: None
    url = make_url(database_url)
    target = f"{url.database}_restore"
    libpq = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    dump = tmp_path / "cchc.dump"
    subprocess.run(["dropdb", *libpq, "--if-exists", target], check=True, timeout=60)
    subprocess.run(["pg_dump", *libpq, "--format=custom", "--file", str(dump), url.database], check=True, timeout=120)
    subprocess.run(["createdb", *libpq, target], check=True, timeout=60)
    subprocess.run(["pg_restore", *libpq, "--exit-on-error", "--no-owner", "--dbname", target, str(dump)],
                   check=True, timeout=120)
    return (url.set(database=target).render_as_string(hide_password=False),
            lambda: subprocess.run(["dropdb", *libpq, "--if-exists", target], check=True, timeout=60))


def test_a_restored_backup_verifies_and_serves_the_same_board(app, db, dialect, database_url, world, history,
                                                              tmp_path):
    before = _board(app, world.secretariat)
    assert "Xã 10002" in before
    db.session.remove()
    restored_url, drop = _backup_and_restore(database_url, dialect, tmp_path)
    try:
        restored = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": restored_url})
        with restored.app_context():
            from models import db as rdb

            code, out = _verify(restored)
            assert code == 0 and f"{len(history)} events verified" in out, out
            assert _board(restored, world.secretariat) == before
            # the restored chain is still append-only: the triggers came back with the data
            engine = create_engine(restored_url)
            with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
                conn.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq = 1"))
            engine.dispose()
            rdb.session.remove()
            rdb.engine.dispose()
    finally:
        drop()
