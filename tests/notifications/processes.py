"""Real ``flask scheduler run`` processes for the fail-over tests, and a campaign with many reminders due now.

The processes run on the test's database (SQLite file or PostgreSQL) with the real clock, so the
campaign is built around today: its self-assessment is due on the next working day, which puts
the 2-day reminder in the recent past (the 5-day one is superseded and recorded as skipped).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field

from sqlalchemy import select

from config import ROOT
from models import Case, Commune, Deadline, db
from states import Role
from tests.factories import DUES
from workflow import cases, reminders
from workflow.calendar import WorkingCalendar
from workflow.clock import LOCAL_TZ, utcnow
from workflow.sweep import message_key

CATCH_UP_HOURS = 24 * 60  # wide enough for a Tết break between the 2-day reminder and today


@dataclass
class Load:
    """What the sweep must queue: one reminder per officer of every commune, each with its outbox key."""

    campaign_key: str
    keys: set[str] = field(default_factory=set)
    deadline_ids: list[int] = field(default_factory=list)


def build_load(make, *, communes: int, officers_per_commune: int, key: str = "load") -> Load:
    """A campaign whose every case sits in self-assessment with its latest reminder due now."""
    now = utcnow()
    cal = WorkingCalendar.from_plan({"country": "VN"})
    today = now.astimezone(LOCAL_TZ).date()
    due = cal.working_days_after(today, 1)
    codes = tuple(f"{40000 + i}" for i in range(communes))
    campaign = make.campaign(key=key, communes=codes, dues={**DUES, "self_assessment": due.isoformat()})
    campaign.reminders = {"before_working_days": [5, 2, 0], "catch_up_hours": CATCH_UP_HOURS}
    for code in codes:
        commune = make.officers[code].commune
        for n in range(1, officers_per_commune):
            make.user(f"officer{code}-{n}@{key}.example.vn", Role.commune_officer, commune=commune)
    db.session.commit()
    for code in codes:
        cases.fire(make.case_of(campaign, code), "open", make.secretariat, now=now)
    db.session.commit()

    planner = reminders.Planner(campaign)
    latest = max((m for m in planner.moments(due) if m.kind == "reminder" and m.at <= now),
                 key=lambda m: m.sort_key)
    load = Load(campaign_key=key)
    rows = db.session.execute(
        select(Deadline, Case).join(Case, Case.id == Deadline.case_id).join(Commune)
        .where(Case.campaign_id == campaign.id, Deadline.completed_at.is_(None))
        .order_by(Deadline.next_notice_at, Deadline.id)).all()
    people = reminders.Directory(campaign)
    for deadline, case in rows:
        load.deadline_ids.append(deadline.id)
        for user in people.commune_users(case, Role.commune_officer):
            load.keys.add(message_key("reminder", case.id, deadline.id, latest.level, user.email))
    assert len(load.keys) == communes * officers_per_commune
    return load


def scheduler_env(database_url: str, smtp_port: int, tmp_path, name: str) -> dict:
    """The environment of a scheduler process: the test's database, the test's SMTP server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "OUTBOX_", "MAIL_"))}
    url = database_url
    if url.startswith("postgresql"):
        # lets the test see this process's sessions in pg_stat_activity
        url += ("&" if "?" in url else "?") + f"application_name={name}"
    env.update({
        "CCHC_ENV": "development", "DATABASE_URL": url, "SECRET_KEY": "test-secret",
        "EVIDENCE_DIR": str(tmp_path / "evidence"), "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port),
        "MAIL_TIMEOUT": "5", "PUBLIC_BASE_URL": "https://cchc.example.vn", "SCHEDULER_IN_WEB": "false",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def start_scheduler(env: dict, tmp_path, name: str, *args: str) -> subprocess.Popen:
    """``flask scheduler run`` as a child process; its output goes to ``tmp_path/<name>.log``."""
    with open(tmp_path / f"{name}.log", "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run", *args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def output_of(tmp_path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text("utf-8", "replace")


def wait_for(condition, *, timeout: float, what: str, every: float = 0.02, procs=()):
    """Poll ``condition`` until it is true; fail with ``what`` after ``timeout`` or if a process dies."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"scheduler process exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def finish(proc: subprocess.Popen, *, timeout: float, tmp_path, name: str) -> str:
    """Wait for a process that exits when drained; kill it and fail if it does not."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{name} did not drain within {timeout} s:\n{output_of(tmp_path, name)[-3000:]}") from None
    out = output_of(tmp_path, name)
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    return out


def queued_by(output: str) -> int:
    """Messages this process's sweeps queued, from its job summaries."""
    return sum(int(n) for n in re.findall(r"(\d+) message\(s\) queued", output))
