"""Benchmark of the campaign dashboard with 10,000 cases in one campaign.

    .venv/bin/python bench/dashboard.py                      # SQLite (a fresh file in a temporary directory)
    .venv/bin/python bench/dashboard.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard
    .venv/bin/python bench/dashboard.py --cases 2000 --runs 5   # quicker

The fixture is the case board's (bench/board.py: bulk inserts of the Quảng Điền criteria set, 10,000
communes and cases spread over the stages, their open, completed and revision deadlines, scores and
files). Timed: the dashboard page through the Flask test client as a logged-in secretariat user, and
``workflow.dashboard.build`` alone (the counting, without rendering). One warm-up, then the median (min,
max) of ``--runs``. --pg EMPTIES the given database's public schema. Writes bench/results/dashboard.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from board import (  # noqa: E402  (the board's fixture, reused as is)
    AS_OF,
    CAMPAIGN_KEY,
    PASSWORD,
    _cpu,
    _cpus,
    _load,
    build,
    described,
    empty_postgres,
    make_app,
    timed,
)
from flask_migrate import upgrade  # noqa: E402

from config import ROOT  # noqa: E402

TARGET_MS = 100.0  # the dashboard is one page a manager opens, like the board's first page (150 ms)


def time_build(app, runs: int) -> dict:
    """``dashboard.build`` alone: the GROUP BY and the stage dates, no rendering; times in ms."""
    from models import Campaign, db
    from workflow import dashboard

    moment = dt.datetime.combine(dt.date.fromisoformat(AS_OF), dt.time(12), dt.UTC)
    with app.app_context():
        campaign = db.session.scalar(db.select(Campaign).where(Campaign.key == CAMPAIGN_KEY))
        built = dashboard.build(campaign, moment)
        times, cpu = [], []
        for _ in range(runs):
            db.session.expire_all()
            started, started_cpu = time.perf_counter(), time.process_time()
            dashboard.build(campaign, moment)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        counts = {line.stage: line.counts for line in built.lines}
        db.session.remove()
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2),
            "max_ms": round(max(times), 2), "cpu_median_ms": round(statistics.median(cpu), 2), "runs": runs,
            "total_cases": built.total, "counts": counts}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL URL (its public schema is emptied)")
    parser.add_argument("--sqlite-file", type=Path, metavar="PATH", help="keep the SQLite database in this file")
    parser.add_argument("--reuse", action="store_true", help="reuse a database an earlier run built")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    url = args.pg or f"sqlite:///{args.sqlite_file or tmp / 'bench.sqlite3'}"
    reuse = args.reuse and (args.pg or (args.sqlite_file and args.sqlite_file.exists()))
    if args.pg and not reuse:
        empty_postgres(args.pg)
    app = make_app(url, tmp)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        from models import db

        built = described(reused=True) if reuse else build(app, args.cases)
        dialect = db.engine.dialect.name
        db.session.remove()
    print(f"built on {dialect}: {built}", flush=True)

    with app.app_context():
        client = app.test_client()
        login = client.post("/login", data={"email": "secretariat@bench.example.vn", "password": PASSWORD})
        assert login.status_code == 302, "log-in failed"
        page = timed(client, f"/dashboard?campaign={CAMPAIGN_KEY}&as_of={AS_OF}", args.runs)
    page.update(name="dashboard page", target_ms=TARGET_MS, met=page["median_ms"] <= TARGET_MS)
    counting = time_build(app, args.runs)
    counting.update(name="dashboard.build (counting only)")
    for row in (page, counting):
        print(f"  {row['name']:<40} {row['median_ms']:>9.2f} ms  (min {row['min_ms']:.2f}, max {row['max_ms']:.2f}; "
              f"CPU {row['cpu_median_ms']:.2f} ms)", flush=True)
    print(f"  cases counted: {counting['total_cases']}")

    report = {
        "benchmark": "campaign dashboard",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": dialect,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "processor": _cpu(),
                    "cpus": _cpus()},
        "fixture": built,
        "method": f"Flask test client, logged in as secretariat; 1 warm-up then median of {args.runs} runs",
        "load_average": _load(),
        "results": [page, counting],
    }
    out = args.out or HERE / "results" / ("dashboard-postgresql.json" if args.pg else "dashboard.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out}")
    return 0 if page["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
