"""What every benchmark shares: the app on a chosen database (SQLite in WAL), medians, the machine, results."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# every SQLite connection of every system measured, ours and the peers': WAL, and this durability
SQLITE_JOURNAL = "WAL"
SQLITE_SYNCHRONOUS = "NORMAL"


def sqlite_pragmas(dbapi_connection) -> None:
    """WAL with the shared ``synchronous`` setting, on a DB-API connection (sqlite3)."""
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA journal_mode={SQLITE_JOURNAL}")
    cur.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cur.close()


def make_app(url: str, tmp: Path, **extra):
    """The real app (testing settings) on ``url``, migrated; SQLite connections get the shared pragmas."""
    from flask_migrate import upgrade
    from sqlalchemy import event

    from config import TestingConfig
    from web import create_app

    app = create_app({
        **{k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()},
        "SQLALCHEMY_DATABASE_URI": url, "EVIDENCE_DIR": str(tmp / "evidence"), "WTF_CSRF_ENABLED": False,
        **extra,
    })
    with app.app_context():
        from models import db

        if db.engine.dialect.name == "sqlite":
            db.engine.dispose()
            event.listen(db.engine, "connect", lambda conn, _record: sqlite_pragmas(conn))
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
    return app


def empty_postgres(url: str) -> None:
    """Drop and recreate the public schema of the (benchmark's own) database at ``url``, created if missing."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    server = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def vacuum_postgres(url: str) -> None:
    """VACUUM ANALYZE the database at ``url``: what autovacuum does between runs on a production server
    (this machine's server runs with ``autovacuum = off``, so without it every system measured would work
    through its own dead rows, more with each run)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def sqlite_settings(session_or_conn) -> dict:
    """The journal mode and synchronous level a connection really runs with (read back, not assumed)."""
    from sqlalchemy import text

    journal = session_or_conn.execute(text("PRAGMA journal_mode")).scalar()
    sync = session_or_conn.execute(text("PRAGMA synchronous")).scalar()
    return {"journal_mode": journal, "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(sync, sync)}


def driver_settings(conn, *, sqlite: bool) -> dict:
    """``sqlite_settings`` for a bare DB-API connection (sqlite3 or psycopg), read back from it."""
    if not sqlite:
        return {"synchronous_commit": conn.execute("SHOW synchronous_commit").fetchone()[0]}
    return {"journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": {1: "NORMAL", 2: "FULL"}.get(*conn.execute("PRAGMA synchronous").fetchone())}


def summary(values: list[float]) -> dict:
    """Median, min and max of the runs, and how many there were."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def load_average() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    import sqlalchemy
    import transitions

    info = {"python": platform.python_version(), "platform": platform.platform(), "processor": cpu,
            "cpus": os.cpu_count(), "sqlite": sqlite3.sqlite_version, "sqlalchemy": sqlalchemy.__version__,
            "transitions": transitions.__version__}
    try:
        import psycopg

        info["psycopg"] = psycopg.__version__
    except ImportError:
        pass
    return info


def row(name: str, value: float | None, unit: str, *, target: float | None = None, higher_is_better=False,
        target_text: str | None = None, **detail) -> dict:
    """One line of the results table; ``met`` compares ``value`` with ``target``."""
    met = None
    if target is not None and value is not None:
        met = value >= target if higher_is_better else value <= target
    return {"name": name, "value": value, "unit": unit, "target": target, "higher_is_better": higher_is_better,
            "target_text": target_text or (None if target is None else
                                           f"{'≥' if higher_is_better else '≤'} {target:g} {unit}"),
            "met": met, **detail}


def write(out: Path | None, benchmark: str, rows: list[dict], **extra) -> dict:
    """Print the rows and write them (with the machine and load) as JSON to ``out``."""
    report = {"benchmark": benchmark, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "load_average": load_average(), "machine": machine(), "rows": rows, **extra}
    for r in rows:
        value = "-" if r["value"] is None else f"{r['value']:,.3f}".rstrip("0").rstrip(".")
        verdict = "" if r["met"] is None else ("met" if r["met"] else "MISSED")
        print(f"  {r['name']:<64} {value:>14} {r['unit']:<12} {r['target_text'] or '':<16} {verdict}", flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    return report
