"""The ceiling for our work: the statements ours ran for a slice, replayed through the raw driver.

Ours records every statement it sends (SQL text and parameters, already in the driver's form) and every
commit while it advances a slice. This system holds a byte-for-byte copy of ours' database as it was
before the first run, and replays those statements, arrow by arrow, with one commit per arrow, on the
same driver (sqlite3 or psycopg), with no Python of ours between them: no ORM, no guards evaluated, no
hash computed. Its rate is what any implementation doing exactly our reads and writes could reach on this
schema; ours' distance from it is the cost of our Python, and its distance from the floor is the cost of
the work itself (the guards' read of 84 scores, the deadlines, the audit chain and the outbox, and their
indexes). Its copy ends in the same state as ours: ``check`` compares the audit chain's head. With
``drop_indexes`` (SQLite), the copy first loses the secondary indexes of the tables an arrow writes, which
the history, the sweep and the board read by: what the work would cost without them.
"""

from __future__ import annotations

import time
from pathlib import Path

COMMIT = None  # the marker of a commit in a recorded log


class Recorder:
    """Statements and commits sent on an SQLAlchemy engine while ``on``: for ``Replay``."""

    def __init__(self):
        self.log: list = []
        self.recording = False

    def attach(self, engine) -> None:
        from sqlalchemy import event

        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, _conn, _cursor, statement, parameters, _context, executemany) -> None:
        if self.recording:
            self.log.append((statement, parameters, executemany))

    def _commit(self, _conn) -> None:
        if self.recording:
            self.log.append(COMMIT)

    def start(self) -> None:
        """Forget the last run's statements and record the next run's."""
        self.log, self.recording = [], True

    def stop(self) -> None:
        self.recording = False


def replay(log: list, conn, commit=None) -> None:
    """Send ``log``'s statements on ``conn`` (a DB-API connection), committing at each COMMIT (through
    ``commit`` when given: a caller that times it)."""
    commit = commit or conn.commit
    cur = conn.cursor()
    for item in log:
        if item is COMMIT:
            commit()
            continue
        statement, parameters, many = item
        if many:
            cur.executemany(statement, parameters)
        else:
            cur.execute(statement, parameters)
            if cur.description is not None:
                cur.fetchall()


class Replay:
    """Replays what ``recorder`` caught in ours' last run on a copy of ours' database (read, not consumed:
    several replays may follow one run of ours)."""

    def __init__(self, source: Path | str, target: Path | str, recorder: Recorder, *, drop_indexes: bool = False):
        self.source, self.target, self.recorder = source, target, recorder
        self.sqlite = isinstance(target, Path)
        self.drop_indexes = drop_indexes  # the secondary indexes of the tables an arrow writes (an experiment)

    def build(self, n: int) -> list[int]:
        """Copy ours' freshly built database (ours must have built it and closed its connections)."""
        if self.sqlite:
            import sqlite3

            from common import sqlite_pragmas

            src = sqlite3.connect(self.source)
            self.conn = sqlite3.connect(self.target)
            src.backup(self.conn)
            src.close()
            sqlite_pragmas(self.conn)
        else:
            import psycopg
            from sqlalchemy.engine import make_url

            server = make_url(self.target).set(database="postgres").render_as_string(hide_password=False)
            admin = psycopg.connect(server.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
            source, target = make_url(self.source).database, make_url(self.target).database
            admin.execute(f'DROP DATABASE IF EXISTS "{target}"')
            admin.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
            admin.close()
            self.conn = psycopg.connect(self.target.replace("postgresql+psycopg://", "postgresql://"))
        if self.drop_indexes:
            for (name,) in self.conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%' AND tbl_name IN "
                    "('cases', 'deadlines', 'audit_events', 'domain_events')").fetchall():
                self.conn.execute(f'DROP INDEX "{name}"')
            self.conn.commit()
        ids = [r[0] for r in self.conn.execute("SELECT id FROM cases ORDER BY id").fetchall()[:n]]
        self.conn.commit()  # no transaction left open (PostgreSQL's VACUUM between runs)
        return ids

    def settings(self) -> dict:
        from common import driver_settings

        return driver_settings(self.conn, sqlite=self.sqlite)

    def advance(self, case_ids: list[int], forward) -> float:
        log = self.recorder.log
        commits = sum(1 for item in log if item is COMMIT)
        if commits != len(case_ids) * len(forward):
            raise RuntimeError(f"recorded {commits} commits for {len(case_ids)} cases: run ours on the slice first")
        started = time.perf_counter()
        replay(log, self.conn)
        return time.perf_counter() - started

    def check(self, case_ids: list[int]) -> dict:
        q = "?" if self.sqlite else "%s"
        marks = ", ".join([q] * len(case_ids))
        published = self.conn.execute(f"SELECT count(*) FROM cases WHERE stage = 'publication' AND id IN ({marks})",
                                      case_ids).fetchone()[0]
        logs = self.conn.execute("SELECT count(*) FROM audit_events WHERE action = 'case.transition'").fetchone()[0]
        head = self.conn.execute("SELECT seq, last_hash FROM audit_head").fetchone()
        self.conn.commit()
        return {"published": published, "log_rows": logs, "audit_head": list(head)}
