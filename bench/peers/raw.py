"""The floor: the same two statements per transition (UPDATE the stage where it is the expected source,
INSERT a log row) and a commit, straight through the driver (sqlite3 or psycopg)."""

from __future__ import annotations

import time
from pathlib import Path

STAGES = ("planning", "self_assessment", "appraisal", "survey", "council_meeting", "publication")


class Raw:
    def __init__(self, target: Path | str):
        self.sqlite = isinstance(target, Path)
        if self.sqlite:
            import sqlite3

            from common import sqlite_pragmas

            self.conn = sqlite3.connect(target, isolation_level=None)
            sqlite_pragmas(self.conn)
            self.mark = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(target.replace("postgresql+psycopg://", "postgresql://"))
            self.mark = "%s"
        pk = "INTEGER PRIMARY KEY" if self.sqlite else "BIGSERIAL PRIMARY KEY"
        self._script([
            "DROP TABLE IF EXISTS raw_log", "DROP TABLE IF EXISTS raw_cases",
            f"CREATE TABLE raw_cases (id {pk}, stage TEXT NOT NULL, updated_at TEXT)",
            f"CREATE TABLE raw_log (id {pk}, case_id INTEGER NOT NULL REFERENCES raw_cases (id), "
            "transition TEXT NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL, at TEXT NOT NULL)",
            "CREATE INDEX ix_raw_log_case ON raw_log (case_id)",
        ])

    def _script(self, statements) -> None:
        if self.sqlite:
            self.conn.execute("BEGIN")
        for sql in statements:
            self.conn.execute(sql)
        self.conn.commit() if not self.sqlite else self.conn.execute("COMMIT")

    def build(self, n: int) -> list[int]:
        m = self.mark
        if self.sqlite:
            self.conn.execute("BEGIN")
            self.conn.executemany(f"INSERT INTO raw_cases (stage) VALUES ({m})", [("planning",)] * n)
            self.conn.execute("COMMIT")
        else:
            with self.conn.cursor() as cur:
                cur.executemany(f"INSERT INTO raw_cases (stage) VALUES ({m})", [("planning",)] * n)
            self.conn.commit()
        return [r[0] for r in self.conn.execute("SELECT id FROM raw_cases ORDER BY id").fetchall()]

    def settings(self) -> dict:
        from common import driver_settings

        return driver_settings(self.conn, sqlite=self.sqlite)

    def advance(self, case_ids: list[int], forward) -> float:
        m, conn = self.mark, self.conn
        update = f"UPDATE raw_cases SET stage = {m}, updated_at = {m} WHERE id = {m} AND stage = {m}"
        log = f"INSERT INTO raw_log (case_id, transition, source, dest, at) VALUES ({m}, {m}, {m}, {m}, {m})"
        started = time.perf_counter()
        for case_id in case_ids:
            for step, (name, _who) in enumerate(forward):
                source, dest = STAGES[step], STAGES[step + 1]
                if self.sqlite:
                    conn.execute("BEGIN")
                cur = conn.execute(update, (dest, "2023-10-02T02:00:00Z", case_id, source))
                if cur.rowcount != 1:
                    raise RuntimeError(f"{name} not allowed for case {case_id}")
                conn.execute(log, (case_id, name, source, dest, "2023-10-02T02:00:00Z"))
                conn.execute("COMMIT") if self.sqlite else conn.commit()
        return time.perf_counter() - started

    def check(self, case_ids: list[int]) -> dict:
        published = sum(1 for (s,) in self.conn.execute("SELECT stage FROM raw_cases").fetchall()
                        if s == "publication")
        logs = self.conn.execute("SELECT count(*) FROM raw_log").fetchone()[0]
        if not self.sqlite:
            self.conn.commit()
        return {"published": published, "log_rows": logs}
