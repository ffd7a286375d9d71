"""Benchmark of the case page (issue 7's target: <= 40 ms of server time for a case with 84 sub-criteria,
150 evidence files and 300 history events).

    .venv/bin/python bench/case_page.py                  # SQLite (a fresh file in a temporary directory)
    .venv/bin/python bench/case_page.py --runs 15
    .venv/bin/python bench/case_page.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/bench_case

The case is built through the real workflow operations, so its history is the real one: the Quảng Điền
criteria set (84 sub-criteria), the case opened, every self-assessed item scored with an explanation,
150 evidence files uploaded, the self-assessment submitted and 63 items appraised: 300 audit events.
The case then sits in appraisal, where the secretariat has two actions, one of them blocked by the items
not yet appraised (the page's most expensive state). Each page is requested through the Flask test client
as a logged-in user, outside any app context held by the benchmark (a request gets its own session, as
in production): two warm-ups, then the median (and min/max) of ``--runs`` timed requests. SQL statements
are counted per request: the count must not grow with the number of items, files or events.
--pg EMPTIES the given database's public schema. Prints a table and writes bench/results/case_page.json.
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
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import empty_postgres  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from config import ROOT, TestingConfig  # noqa: E402

PASSWORD = "bench-case-2023"
NOW = dt.datetime(2023, 11, 6, 2, 0, tzinfo=dt.UTC)
AS_OF = "2023-12-01"  # in appraisal, before its due date (15/12/2023)
TARGET_MS = 40.0
EVIDENCE_FILES = 150
HISTORY_EVENTS = 300


def make_app(url: str, tmp: Path):
    from web import create_app

    return create_app({
        **{k: getattr(TestingConfig, k) for k in dir(TestingConfig) if k.isupper()},
        "SQLALCHEMY_DATABASE_URI": url, "EVIDENCE_DIR": str(tmp / "evidence"), "WTF_CSRF_ENABLED": False,
    })


def build() -> dict:
    """The campaign and one case with 84 sub-criteria, 150 evidence files and 300 history events."""
    from models import AuditEvent, Evidence, db
    from tests.factories import Factory
    from workflow import cases, criteria_sets, evidence, scores

    started = time.perf_counter()
    cs, _ = criteria_sets.load_criteria_file(ROOT / "examples" / "criteria-quang-dien-xa-2019.json",
                                             actor=None, now=NOW)
    make = Factory(db)
    campaign = make.campaign("bench-case-2023", communes=("19001", "19002"), criteria_set=cs)
    for user in (make.secretariat, make.officers["19001"], make.auditor):
        user.set_password(PASSWORD)
    case = make.case_of(campaign, "19001")
    cases.fire(case, "open", make.secretariat, now=NOW)
    officer = make.officers["19001"]
    self_items = [i for i in cs.leaves() if i.method == "self"]
    for item in self_items:
        scores.set_self_assessment(case, item.code, officer, now=NOW, score=item.max_points,
                                   explanation=f"Đã thực hiện {item.code}")
    for n in range(EVIDENCE_FILES):
        item = self_items[n % len(self_items)]
        evidence.add_evidence(case, item.code, officer, now=NOW, file_name=f"tai-lieu-{n + 1:03d}.pdf",
                              data=b"%PDF-1.4\n" + f"tai lieu kiem chung {n}\n".encode() * 40,
                              media_type="application/pdf", locator=f"trang {n % 9 + 1}")
    cases.fire(case, "submit", officer, now=NOW)
    events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case.id))
    for item in self_items[:HISTORY_EVENTS - events]:
        scores.set_appraisal(case, item.code, make.secretariat, now=NOW,
                             score=max(item.max_points - Decimal("0.25"), Decimal(0)))
    db.session.commit()
    counted = {
        "case_id": case.id,
        "sub_criteria": len(cs.leaves()),
        "self_assessed": len(self_items),
        "evidence_files": db.session.scalar(select(func.count()).select_from(Evidence)
                                            .where(Evidence.case_id == case.id)),
        "history_events": db.session.scalar(select(func.count()).select_from(AuditEvent)
                                            .where(AuditEvent.case_id == case.id)),
        "stage": case.stage,
        "build_s": round(time.perf_counter() - started, 1),
    }
    return counted


class StatementCounter:
    """SQL statements sent by the engine (to show there is no N+1)."""

    def __init__(self, engine):
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args, **_kwargs):
        self.n += 1


def timed(client, url: str, runs: int, counter: StatementCounter) -> dict:
    """Two warm-ups, then ``runs`` timed requests; times in ms."""
    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    times, cpu, statements = [], [], []
    for _ in range(runs):
        before = counter.n
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        statements.append(counter.n - before)
        assert response.status_code == 200
    return {"url": url, "median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2),
            "max_ms": round(max(times), 2), "cpu_median_ms": round(statistics.median(cpu), 2), "runs": runs, "sql_statements": max(statements),
            "bytes": len(response.get_data())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL URL (its public schema is emptied)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5")

    tmp = Path(tempfile.mkdtemp(prefix="bench-case-"))
    if args.pg:
        empty_postgres(args.pg)
    url = args.pg or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = make_app(url, tmp)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        from models import db

        built = build()
        dialect = db.engine.dialect.name
        counter = StatementCounter(db.engine)
        db.session.remove()
    print(f"built on {dialect}: {built}", flush=True)

    case_url = f"/cases/{built['case_id']}"
    pages = [
        ("case page, secretariat (2 actions, one blocked)", "secretariat@bench-case-2023.example.vn",
         f"{case_url}?as_of={AS_OF}", TARGET_MS),
        ("case page, commune officer", "officer19001@bench-case-2023.example.vn", f"{case_url}?as_of={AS_OF}",
         TARGET_MS),
        ("case page, auditor", "auditor@bench-case-2023.example.vn", f"{case_url}?as_of={AS_OF}", TARGET_MS),
        ("case page, secretariat, whole history (300 events)", "secretariat@bench-case-2023.example.vn",
         f"{case_url}?as_of={AS_OF}&history=all", None),
        ("case page, secretariat, today (deadline counted from 2023 to now)",
         "secretariat@bench-case-2023.example.vn", case_url, None),
    ]
    results = []
    clients = {}
    for name, email, page_url, target in pages:
        client = clients.get(email)
        if client is None:
            client = clients[email] = app.test_client()
            login = client.post("/login", data={"email": email, "password": PASSWORD})
            assert login.status_code == 302, f"log-in as {email} failed"
        row = timed(client, page_url, args.runs, counter)
        row.update(name=name, user=email, target_ms=target, met=None if target is None else row["median_ms"] <= target)
        results.append(row)
        print(f"  {name:<66} {row['median_ms']:>8.2f} ms (CPU {row['cpu_median_ms']:>6.2f} ms) "
              f"{row['sql_statements']:>3} SQL"
              + (f"  (target {target:g} ms: {'met' if row['met'] else 'MISSED'})" if target else ""), flush=True)

    report = {
        "benchmark": "case page",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": dialect,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": _cpu(), "cpus": _cpus()},
        "fixture": built,
        "method": f"Flask test client, logged in; 2 warm-ups then median of {args.runs} runs (wall clock, and "
                  "the process's CPU time, which a machine busy with other work inflates less); "
                  "SQL statements counted per request",
        "load_average_1min": _load(),
        "results": results,
    }
    out = args.out or HERE / "results" / ("case_page.json" if dialect == "sqlite" else "case_page-postgresql.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out}")
    return 0 if all(r["met"] is not False for r in results) else 1


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _load() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
