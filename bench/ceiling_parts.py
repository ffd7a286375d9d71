"""Where the ceiling's time goes (SQLite): the parts behind the "Fifth round" of bench/README.md.

    .venv-bench/bin/python bench/ceiling_parts.py [--cases 1000]

Runs ours over N cases while recording its statements (as ``throughput.py`` does), then replays them
through sqlite3 on a copy of ours' database built beforehand, and prints per arrow: the replay's time, the
part of it spent in COMMIT, and the WAL frames written (automatic checkpoints off, so the WAL holds every
frame); then one primary-key SELECT through SQLAlchemy Core against the same through sqlite3. One
measurement, not a median: an explanation of the ceiling, not a target.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import timeit
from pathlib import Path

import common
from fixtures import FORWARD
from peers.replay import replay
from throughput import Ours


def replay_parts(log: list, path: Path, arrows: int) -> dict:
    conn = sqlite3.connect(path)
    common.sqlite_pragmas(conn)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    wal = Path(f"{path}-wal")
    before = wal.stat().st_size if wal.exists() else 0
    in_commit = 0.0

    def timed_commit() -> None:
        nonlocal in_commit
        t = time.perf_counter()
        conn.commit()
        in_commit += time.perf_counter() - t

    started = time.perf_counter()
    replay(log, conn, timed_commit)
    total = time.perf_counter() - started
    frames = (wal.stat().st_size - before) / (page + 24)  # a WAL frame: a 24-byte header and one page
    conn.close()
    return {"replay_us": total / arrows * 1e6, "commit_us": in_commit / arrows * 1e6, "wal_frames": frames / arrows}


def select_overhead(path: Path, case_id: int) -> tuple[float, float]:
    """Microseconds for one primary-key SELECT of a case: through SQLAlchemy Core, through sqlite3."""
    from sqlalchemy import bindparam, column, create_engine, select, table

    cases = table("cases", column("id"), column("stage"), column("version"))
    statement = select(cases.c.id, cases.c.stage, cases.c.version).where(cases.c.id == bindparam("k"))
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(statement, {"k": case_id}).all()
        core = min(timeit.repeat(lambda: conn.execute(statement, {"k": case_id}).all(), number=2000, repeat=5))
    engine.dispose()
    raw = sqlite3.connect(path)
    sql = "SELECT id, stage, version FROM cases WHERE id = ?"
    bare = min(timeit.repeat(lambda: raw.execute(sql, (case_id,)).fetchall(), number=2000, repeat=5))
    raw.close()
    return core / 2000 * 1e6, bare / 2000 * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ceiling-"))
    ours = Ours(f"sqlite:///{tmp / 'ours.sqlite3'}", tmp)
    ids = ours.build(args.cases)
    source, copy = sqlite3.connect(tmp / "ours.sqlite3"), sqlite3.connect(tmp / "copy.sqlite3")
    source.backup(copy)
    source.close()
    copy.close()
    arrows = args.cases * len(FORWARD)
    started = time.perf_counter()
    ours.advance(ids, FORWARD)
    ours_us = (time.perf_counter() - started) / arrows * 1e6
    parts = replay_parts(ours.recorder.log, tmp / "copy.sqlite3", arrows)
    core, bare = select_overhead(tmp / "copy.sqlite3", ids[0])
    print(f"  ours {ours_us:,.0f} µs an arrow; its statements replayed {parts['replay_us']:,.0f} µs, of which "
          f"COMMIT {parts['commit_us']:,.0f} µs; {parts['wal_frames']:.1f} WAL frames an arrow")
    print(f"  primary-key SELECT: SQLAlchemy Core {core:.1f} µs, sqlite3 {bare:.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
