"""SpiffWorkflow (BPMN): the six stages as user tasks; the workflow's state is serialised to the database
after every step. Each transition: load the serialised workflow, check the ready task is the expected
stage, complete it, run the engine, store the new serialisation and a log row, commit (sqlite3, WAL)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

BPMN = Path(__file__).with_name("cchc.bpmn")

SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (id INTEGER PRIMARY KEY, stage TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workflow_log (id INTEGER PRIMARY KEY, workflow_id INTEGER NOT NULL,
    transition TEXT NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_workflow_log_workflow ON workflow_log (workflow_id);
"""


class Spiff:
    def __init__(self, path: Path):
        from common import sqlite_pragmas
        from SpiffWorkflow.bpmn import BpmnWorkflow
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
        from SpiffWorkflow.util.task import TaskState

        parser = BpmnParser()
        parser.add_bpmn_file(str(BPMN))
        self.spec = parser.get_spec("cchc_case")
        self.workflow_cls, self.ready = BpmnWorkflow, TaskState.READY
        self.serializer = BpmnWorkflowSerializer()
        self.conn = sqlite3.connect(path, isolation_level=None)
        sqlite_pragmas(self.conn)
        self.conn.executescript(SCHEMA)

    def build(self, n: int) -> list[int]:
        wf = self.workflow_cls(self.spec)
        wf.do_engine_steps()
        state = self.serializer.serialize_json(wf)
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO workflows (stage, state) VALUES ('planning', ?)", [(state,)] * n)
        self.conn.execute("COMMIT")
        return [r[0] for r in self.conn.execute("SELECT id FROM workflows ORDER BY id")]

    def settings(self) -> dict:
        return {"journal_mode": self.conn.execute("PRAGMA journal_mode").fetchone()[0],
                "synchronous": {1: "NORMAL", 2: "FULL"}.get(*self.conn.execute("PRAGMA synchronous").fetchone())}

    def advance(self, case_ids: list[int], forward) -> float:
        conn, ser = self.conn, self.serializer
        started = time.perf_counter()
        for case_id in case_ids:
            for name, _who in forward:
                conn.execute("BEGIN IMMEDIATE")
                stage, state = conn.execute("SELECT stage, state FROM workflows WHERE id = ?", (case_id,)).fetchone()
                wf = ser.deserialize_json(state)
                ready = wf.get_tasks(state=self.ready, manual=True)
                if len(ready) != 1 or ready[0].task_spec.name != stage:
                    conn.execute("ROLLBACK")
                    raise RuntimeError(f"{name} not allowed: ready {[t.task_spec.name for t in ready]}")
                ready[0].run()
                wf.do_engine_steps()
                after = wf.get_tasks(state=self.ready, manual=True)
                dest = after[0].task_spec.name if after else "done"
                conn.execute("UPDATE workflows SET stage = ?, state = ? WHERE id = ?",
                             (dest, ser.serialize_json(wf), case_id))
                conn.execute("INSERT INTO workflow_log (workflow_id, transition, source, dest, at) "
                             "VALUES (?, ?, ?, ?, datetime('now'))", (case_id, name, stage, dest))
                conn.execute("COMMIT")
        return time.perf_counter() - started

    def check(self, case_ids: list[int]) -> dict:
        marks = ",".join("?" * len(case_ids))
        return {"published": self.conn.execute(f"SELECT count(*) FROM workflows WHERE id IN ({marks}) "
                                               "AND stage = 'publication'", case_ids).fetchone()[0],
                "log_rows": self.conn.execute(f"SELECT count(*) FROM workflow_log WHERE workflow_id IN ({marks})",
                                              case_ids).fetchone()[0]}
