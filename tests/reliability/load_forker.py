"""A fork server for scheduler processes: builds the app once, then forks ``flask scheduler run`` children.

Starting a fresh ``flask scheduler run`` costs seconds of imports (tens of seconds on a busy machine);
the SIGKILL test kills twenty of them, so it starts them from here: each child is its own OS process
with its own database connection, running the real command, and is killed with a real SIGKILL.

Protocol on stdin/stdout, one line each: ``fork LOG ARGS...`` answers the child's pid;
``reap PID`` waits for that child and answers its wait status. Run: ``python -m tests.reliability.load_forker
[--warm-up]`` with the scheduler's environment (tests/notifications/processes.scheduler_env).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from config import ROOT


def _child(app, log: str, args: list[str]) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    code = 1
    try:
        from models import db
        from web.cli.scheduler_cmd import run_command

        with app.app_context():
            db.engine.dispose(close=False)  # never share the parent's pooled connections (it has none, but)
            try:
                run_command.main(args=args, prog_name="flask scheduler run", standalone_mode=True)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _warm_up(app) -> None:
    """One real sweep, rolled back: the lazy work (holiday calendars, templates, catalogues) is done
    here once, so a child reaches its first batch in a moment and the kills land during sweeps."""
    from models import db
    from workflow import sweep
    from workflow.clock import utcnow

    with app.app_context():
        try:
            sweep.sweep(now=utcnow())
        finally:
            db.session.rollback()
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    from web import create_app

    app = create_app()
    if "--warm-up" in sys.argv:
        _warm_up(app)
    print("ready", flush=True)
    for line in sys.stdin:
        command, *rest = shlex.split(line)
        if command == "fork":
            pid = os.fork()
            if pid == 0:
                _child(app, rest[0], rest[1:])
            print(pid, flush=True)
        elif command == "reap":
            _pid, status = os.waitpid(int(rest[0]), 0)
            print(status, flush=True)


class Forker:
    """The test's side: start the fork server, fork children, reap them."""

    def __init__(self, env: dict, log: Path, *, warm_up: bool = False):
        self.log = log
        args = ["--warm-up"] if warm_up else []
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.load_forker", *args], cwd=ROOT, env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out, text=True)
        ready = self.proc.stdout.readline().strip()
        if ready != "ready":
            self.close()
            raise AssertionError(f"the fork server did not start:\n{log.read_text('utf-8', 'replace')[-3000:]}")

    def _ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def fork(self, log: Path, *args: str) -> int:
        return int(self._ask(shlex.join(["fork", str(log), *args])))

    def reap(self, pid: int) -> int:
        """The child's wait status (os.waitstatus_to_exitcode gives -9 after SIGKILL)."""
        return os.waitstatus_to_exitcode(int(self._ask(f"reap {pid}")))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if not stream.closed:
                stream.close()


if __name__ == "__main__":
    main()
