"""Run every benchmark (each in its own process), print one table, write bench/results/latest.json.

Called by ``bench/run``; ``--quick`` is the one-minute-scale smoke run (small N, fewer repeats).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

RESULTS = common.HERE / "results"


def plan(args) -> list[tuple[str, list[str]]]:
    """(name, command) of each benchmark, in the order they run."""
    py, here, quick = sys.executable, common.HERE, ["--quick"] if args.quick else []
    steps = [(name, [py, str(here / "engine.py"), "--only", name, *quick])
             for name in ("trigger", "memory", "sweep", "delivery", "campaign", "audit")]
    cases, runs = (250, 5) if args.quick else (args.cases, 5)
    throughput = [py, str(here / "throughput.py"), "--cases", str(cases), "--runs", str(runs)]
    if args.pg:
        server = args.pg.rstrip("/")
        throughput += ["--pg", f"{server}/{args.pg_db}", "--pg-django", f"{server}/{args.pg_db}b",
                       "--pg-raw", f"{server}/{args.pg_db}c", "--pg-django-view", f"{server}/{args.pg_db}d",
                       "--pg-ceiling", f"{server}/{args.pg_db}e"]
    steps.insert(0, ("throughput", throughput))
    board_cases, page_runs = ("1000", "5") if args.quick else ("10000", "9")
    steps.append(("board", [py, str(here / "board.py"), "--cases", board_cases, "--runs", page_runs]))
    steps.append(("case_page", [py, str(here / "case_page.py"), "--runs", "5" if args.quick else "15"]))
    try:
        from workflow import survey  # noqa: F401

        if hasattr(survey, "import_file"):
            steps.append(("survey", [py, str(here / "survey_import.py"), *quick]))
    except ImportError:
        pass
    return [s for s in steps if not args.only or s[0] in args.only]


def _board_rows(report: dict) -> list[dict]:
    """The existing page scripts' own JSON, as rows of the one table."""
    rows = []
    for r in report.get("results", []):
        rows.append(common.row(f"{report['benchmark']}: {r['name']}", r["median_ms"], "ms", target=r.get("target_ms"),
                               min=r.get("min_ms"), max=r.get("max_ms"), cpu_median_ms=r.get("cpu_median_ms")))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N, fewer repeats (a smoke run)")
    parser.add_argument("--cases", type=int, default=10_000, help="cases in the transitions run (full run)")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server URL without a database "
                        "(postgresql+psycopg://postgres@127.0.0.1:5432); its databases are EMPTIED")
    parser.add_argument("--pg-db", default="test_h6", help="ours on DB, the Django peer on DBb, the floor on DBc, "
                        "the Django peer as a view on DBd (created if missing), the ceiling on DBe (a copy of DB)")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--merge", action="store_true", help="keep the results in --out of the benchmarks "
                        "not run now (each result carries its own date and size)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-run-"))
    results, failures = [], []
    started_at = dt.datetime.now(dt.UTC)
    for name, command in plan(args):
        out = tmp / f"{name}.json"
        command = [*command, "--out", str(out)]
        load_before = common.load_average()
        print(f"== {name}: {' '.join(Path(c).name if c.startswith('/') else c for c in command[1:])}", flush=True)
        began = time.perf_counter()
        proc = subprocess.run(command, cwd=common.ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seconds = time.perf_counter() - began
        shown = [line for line in proc.stdout.splitlines() if "alembic.runtime" not in line]
        print("\n".join(shown[-40:]), flush=True)
        if not out.exists():
            failures.append({"benchmark": name, "exit": proc.returncode, "tail": shown[-15:]})
            print(f"   !! {name} failed (exit {proc.returncode})", flush=True)
            continue
        report = json.loads(out.read_text(encoding="utf-8"))
        rows = report["rows"] if "rows" in report else _board_rows(report)
        results.append({"benchmark": name, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "quick": args.quick, "seconds": round(seconds, 1), "load_average_before": load_before,
                        "load_average_after": common.load_average(), "rows": rows,
                        **{k: report[k] for k in ("fixture", "database", "method") if k in report}})

    if args.merge and args.out.exists():
        ran = {b["benchmark"] for b in results}
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        kept = [b | {"date": b.get("date", previous.get("date")), "quick": b.get("quick", previous.get("quick"))}
                for b in previous.get("benchmarks", []) if b["benchmark"] not in ran]
        results = kept + results
    table = [r | {"benchmark": b["benchmark"]} for b in results for r in b["rows"]]
    print(f"\n{'what':<84} {'value':>12} {'unit':<7} {'target':<14} verdict")
    for r in table:
        value = "-" if r["value"] is None else f"{r['value']:,.3f}".rstrip("0").rstrip(".")
        verdict = "" if r["met"] is None else ("met" if r["met"] else "MISSED")
        print(f"{r['name'][:84]:<84} {value:>12} {r['unit']:<7} {r['target_text'] or '':<14} {verdict}")
    report = {"date": started_at.isoformat(timespec="seconds"),
              "quick": all(b.get("quick") for b in results),  # per benchmark: each result's own "quick"
              "machine": common.machine(), "load_average_end": common.load_average(),
              "sqlite": {"journal_mode": common.SQLITE_JOURNAL, "synchronous": common.SQLITE_SYNCHRONOUS},
              "benchmarks": results, "failures": failures}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}" + (f"; {len(failures)} benchmark(s) FAILED: "
                                        f"{', '.join(f['benchmark'] for f in failures)}" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
