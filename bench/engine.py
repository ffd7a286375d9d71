"""The engine's own rows of issue 7: one trigger, memory, the deadline sweep, e-mail delivery, starting a
national campaign, verifying the audit chain. One benchmark per process (``--only NAME``), on SQLite in WAL.

    .venv-bench/bin/python bench/engine.py --only trigger|memory|sweep|delivery|campaign|audit [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import tempfile
import time
import timeit
from pathlib import Path

import common
import fixtures

RUNS = 5


def bench_trigger(quick: bool, tmp: Path) -> list[dict]:
    """One trigger of the shared machine (states.next_stage): CPU time, median of 5 repeats of 100,000.

    CPU time, not wall time: on the shared machine a microsecond loop is mostly other processes' turns.
    """
    from states import Stage, next_stage

    number = 20_000 if quick else 100_000
    times = [t / number * 1e6 for t in timeit.repeat(lambda: next_stage(Stage.self_assessment, "submit"),
                                                    number=number, repeat=RUNS, timer=time.process_time)]
    return [common.row("one trigger of the machine (next_stage), CPU time", round(statistics.median(times), 2), "µs",
                       target=10, runs=[round(t, 2) for t in times], best=round(min(times), 2))]


def bench_memory(quick: bool, tmp: Path) -> list[dict]:
    """10,000 cases loaded in one session and each fired once (open): traced growth per case."""
    import tracemalloc

    from sqlalchemy import select

    from models import Case, User, db
    from states import MACHINE
    from workflow import cases

    n = 1_000 if quick else 10_000
    app = common.make_app(f"sqlite:///{tmp / 'memory.sqlite3'}", tmp)
    with app.app_context():
        built = fixtures.campaign_with_cases(n, scored=False, officers=False)
        fixtures.analyze()
        db.session.remove()
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.take_snapshot()
        actor = db.session.get(User, built.secretariat_id)
        loaded = db.session.scalars(select(Case).where(Case.campaign_id == built.campaign_id)).all()
        for case in loaded:
            cases.fire(case, "open", actor, now=fixtures.NOW)
        db.session.commit()
        gc.collect()
        fired = tracemalloc.take_snapshot()
        kept_by_machine = len(MACHINE.models)
        opened = sum(1 for c in loaded if c.stage == "self_assessment")
        del loaded, case
        db.session.remove()
        gc.collect()
        released = tracemalloc.take_snapshot()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if opened != n:
        raise SystemExit(f"memory: only {opened} of {n} cases opened")
    grown = sum(s.size_diff for s in fired.compare_to(base, "filename"))
    left = sum(s.size_diff for s in released.compare_to(base, "filename"))
    return [
        common.row(f"memory: {n:,} cases loaded and fired once, growth per case (cases still loaded)",
                   round(grown / n / 1024, 2), "KB", target=5, machine_models=kept_by_machine,
                   peak_per_case_kb=round(peak / n / 1024, 2)),
        common.row("memory: left per case once the session is closed", round(left / n / 1024, 3), "KB",
                   machine_models=kept_by_machine),
    ]


def bench_sweep(quick: bool, tmp: Path) -> list[dict]:
    """600,000 deadline rows; a sweep with nothing due; a sweep that enqueues 10,000 due reminders."""
    from sqlalchemy import func, insert, select, update

    from models import Campaign, Deadline, OutboxMessage, db
    from workflow import reminders, sweep, txn

    n_cases = 1_000 if quick else 10_000
    per_case = 60  # 1 open stage deadline and 59 completed revision rounds
    app = common.make_app(f"sqlite:///{tmp / 'sweep.sqlite3'}", tmp)
    with app.app_context():
        built = fixtures.campaign_with_cases(n_cases, scored=False)
        from sqlalchemy import text

        db.session.execute(text("UPDATE cases SET stage = 'self_assessment'"))
        campaign = db.session.get(Campaign, built.campaign_id)
        planner = reminders.Planner(campaign)
        due = dt.date(2023, 11, 10)
        notice = planner.moments(due)[1]  # the reminder two working days before the due day
        rows = []
        for case_id in built.case_ids:
            rows.append({"case_id": case_id, "stage": "self_assessment", "kind": "stage", "round": 0,
                         "plan_due": due, "due": due, "explanation": "bench", "created_at": fixtures.NOW,
                         "next_notice_at": notice.at})
            for r in range(1, per_case):
                rows.append({"case_id": case_id, "stage": "self_assessment", "kind": "revision", "round": r,
                             "plan_due": due, "due": due, "explanation": "bench", "created_at": fixtures.NOW,
                             "completed_at": fixtures.NOW})
            if len(rows) >= 50_000:
                db.session.execute(insert(Deadline), rows)
                rows = []
        if rows:
            db.session.execute(insert(Deadline), rows)
        fixtures.analyze()
        total = db.session.scalar(select(func.count()).select_from(Deadline))

        quiet, quiet_cpu, due_cpu = [], [], []
        for _ in range(RUNS * 4):
            started, cpu_started = time.perf_counter(), time.process_time()
            report = sweep.sweep(now=notice.at - dt.timedelta(hours=1), commit=txn.commit)
            quiet.append((time.perf_counter() - started) * 1000)
            quiet_cpu.append((time.process_time() - cpu_started) * 1000)  # SQLite works in this process
            assert report.enqueued == 0
        due_runs = []
        for run in range(RUNS):  # the first run of a process also compiles the e-mail templates (~0.1 s)
            if run:  # put the notices back as due and empty the outbox
                db.session.execute(update(Deadline).where(Deadline.completed_at.is_(None))
                                   .values(next_notice_at=notice.at))
                db.session.execute(OutboxMessage.__table__.delete())
                txn.commit()
            started, cpu_started = time.perf_counter(), time.process_time()
            report = sweep.sweep(now=notice.at + dt.timedelta(minutes=5), commit=txn.commit, batch=500)
            due_runs.append(time.perf_counter() - started)
            due_cpu.append(time.process_time() - cpu_started)
            if report.enqueued != n_cases:
                raise SystemExit(f"sweep queued {report.enqueued}, expected {n_cases}: {report.summary()}")
        db.session.remove()
    return [
        common.row(f"deadline sweep over {total:,} deadline rows, nothing due", round(statistics.median(quiet), 3),
                   "ms", target=1, runs=len(quiet), min=round(min(quiet), 3),
                   cpu_ms=round(statistics.median(quiet_cpu), 3)),
        common.row(f"deadline sweep, enqueue {n_cases:,} due reminders", round(statistics.median(due_runs), 2), "s",
                   target=2 * n_cases / 10_000, runs=[round(t, 2) for t in due_runs], deadlines=total,
                   cpu_s=[round(t, 2) for t in due_cpu]),
    ]


# The SMTP sink, in its own process as a real server would be: aiosmtpd's SMTP with a handler that accepts
# every message and drops it (what aiosmtpd.handlers.Sink does: no parsing, no storing), and offers
# PIPELINING (RFC 2920) when asked, as Postfix and Exim do by default.
SMTP_SINK = """
import asyncio, sys
from aiosmtpd.smtp import SMTP

class Sink:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if sys.argv[2] == "pipelining":
            responses.insert(-1, "250-PIPELINING")
        return responses

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
loop.run_until_complete(loop.create_server(lambda: SMTP(Sink()), "127.0.0.1", int(sys.argv[1])))
loop.run_forever()
"""


def bench_delivery(quick: bool, tmp: Path) -> list[dict]:
    """Queued e-mails delivered by notifications.delivery.deliver to a local aiosmtpd sink, one offering
    PIPELINING and one not, measured in turn in every run. CPU time is ours and the sink's, per message."""
    import os
    import socket
    import subprocess
    import sys

    from sqlalchemy import insert

    from models import OutboxMessage, User, db
    from notifications import delivery

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def cpu_of(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    kinds = ("pipelining", "plain")
    ports = {kind: free_port() for kind in kinds}
    servers = {kind: subprocess.Popen([sys.executable, "-c", SMTP_SINK, str(ports[kind]), kind],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for kind in kinds}
    for port in ports.values():
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
    n = 500 if quick else 2_000
    app = common.make_app(f"sqlite:///{tmp / 'delivery.sqlite3'}", tmp, MAIL_SERVER="127.0.0.1",
                          MAIL_SUPPRESS_SEND=False)
    rates = {kind: [] for kind in kinds}
    cpu = {kind: [] for kind in kinds}
    server_cpu = {kind: [] for kind in kinds}
    try:
        with app.app_context():
            user = User(email="cchc.xa@example.vn", name="Cán bộ xã")
            db.session.add(user)
            db.session.commit()
            body = ("Kính gửi Cán bộ xã,\n\nHồ sơ Chỉ số CCHC năm 2023 của Xã Thử còn 2 ngày làm việc đến hạn "
                    "tự đánh giá (10/11/2023).\n") * 4
            for run in range(RUNS):
                for k, kind in enumerate(kinds if run % 2 == 0 else kinds[::-1]):
                    app.config["MAIL_PORT"] = ports[kind]
                    now = fixtures.NOW + dt.timedelta(hours=2 * run + k)
                    db.session.execute(insert(OutboxMessage), [{
                        "key": f"reminder:run={run}:{kind}:n={i}", "kind": "reminder", "level": 2,
                        "recipient_user_id": user.id, "recipient": user.email, "locale": "vi",
                        "subject": f"[CCHC] Nhắc hạn tự đánh giá ({i})", "body_text": body,
                        "body_html": f"<p>{body}</p>", "status": "queued", "attempts": 0, "scheduled_for": now,
                        "next_attempt_at": now, "created_at": now} for i in range(n)])
                    db.session.commit()
                    server_started = cpu_of(servers[kind].pid)
                    started, cpu_started = time.perf_counter(), time.process_time()
                    sent = 0
                    while True:
                        report = delivery.deliver(now=now, batch=200)
                        sent += report.sent
                        if not report.claimed:
                            break
                    seconds = time.perf_counter() - started
                    cpu[kind].append((time.process_time() - cpu_started) / n * 1000)  # ours, without the server's
                    server_cpu[kind].append((cpu_of(servers[kind].pid) - server_started) / n * 1000)
                    if sent != n:
                        raise SystemExit(f"delivery ({kind}): {sent} sent of {n}")
                    rates[kind].append(n / seconds)
            db.session.remove()
    finally:
        for server in servers.values():
            server.terminate()
            server.wait()
    names = {"pipelining": "offering PIPELINING", "plain": "without PIPELINING"}
    return [common.row(f"e-mail delivery to local SMTP {names[kind]} ({n:,} messages a run, batches of 200)",
                       round(statistics.median(rates[kind])), "msg/s", target=800, higher_is_better=True,
                       runs=[round(r) for r in rates[kind]], cpu_ms_per_msg=[round(c, 3) for c in cpu[kind]],
                       cpu_ms_per_msg_median=round(statistics.median(cpu[kind]), 3),
                       server_cpu_ms_per_msg=[round(c, 3) for c in server_cpu[kind]]) for kind in kinds]


def bench_campaign(quick: bool, tmp: Path) -> list[dict]:
    """Load a national plan of 3,321 communes with workflow.plans.load_plan, then start_campaign."""
    import yaml
    from sqlalchemy import func, select

    from models import AuditEvent, Campaign, Case, Deadline, User, db
    from workflow import criteria_sets, plans, txn

    n = 300 if quick else 3_321
    plan = yaml.safe_load((common.ROOT / "examples" / "plan-nui-thanh-2023.yaml").read_text(encoding="utf-8"))
    template = plan["communes"][0]
    plan["communes"] = [{"code": f"{40000 + i:05d}", "name": f"Xã Thử {i}",
                         "officers": [{"name": f"Cán bộ {i}", "email": f"cchc.{i}@example.vn"}],
                         "chair": {"name": f"Chủ tịch {i}", "email": f"chutich.{i}@example.vn"}}
                        for i in range(n)]
    assert set(template) >= {"code", "name", "officers", "chair"}
    loads, starts, cpus, counts = [], [], [], {}
    for run in range(5 if quick else 3):
        app = common.make_app(f"sqlite:///{tmp / f'campaign{run}.sqlite3'}", tmp)
        with app.app_context():
            criteria_sets.load_criteria_file(common.ROOT / "examples" / "criteria-quang-dien-xa-2019.json",
                                             actor=None, now=fixtures.NOW)
            txn.commit()
            started, cpu_started = time.perf_counter(), time.process_time()
            plans.load_plan(plan, actor=None, now=fixtures.NOW)
            txn.commit()
            loads.append(time.perf_counter() - started)
            cpu_load = time.process_time() - cpu_started
            campaign = db.session.scalar(select(Campaign))
            head = db.session.scalar(select(User).where(User.email == plan["secretariat"]["head"]["email"]))
            started, cpu_started = time.perf_counter(), time.process_time()
            opened = plans.start_campaign(campaign, head, now=fixtures.NOW)
            txn.commit()
            starts.append(time.perf_counter() - started)
            cpus.append(cpu_load + time.process_time() - cpu_started)  # SQLite is in-process: its work included
            count = lambda m: db.session.scalar(select(func.count()).select_from(m))  # noqa: E731
            counts = {"opened": opened, "cases": count(Case), "deadlines": count(Deadline),
                      "audit_events": count(AuditEvent)}
            db.session.remove()
    if counts["opened"] != n:
        raise SystemExit(f"campaign: opened {counts['opened']} of {n}")
    totals = [a + b for a, b in zip(loads, starts, strict=True)]
    return [common.row(f"load and start a national campaign ({n:,} communes)", round(statistics.median(totals), 2),
                       "s", target=round(5 * n / 3_321, 2), load_s=[round(t, 2) for t in loads],
                       start_s=[round(t, 2) for t in starts], cpu_s=[round(t, 2) for t in cpus],
                       cpu_median_s=round(statistics.median(cpus), 2), **counts)]


def bench_audit(quick: bool, tmp: Path) -> list[dict]:
    """``workflow.audit.verify`` (what ``flask audit verify`` runs) over a chain of 1,000,000 events."""
    from sqlalchemy import insert, update

    from models import AuditEvent, AuditHead, db
    from workflow import audit

    n = 100_000 if quick else 1_000_000
    app = common.make_app(f"sqlite:///{tmp / 'audit.sqlite3'}", tmp)
    with app.app_context():
        started = time.perf_counter()
        prev, rows = audit.GENESIS, []
        base = fixtures.NOW
        for seq in range(1, n + 1):
            at = base + dt.timedelta(seconds=seq)
            case_id, action = None, "score.changed"
            subject = f"{1 + seq % 84}.{seq % 7}"
            after = {"self_score": f"{seq % 4}.00", "explanation": "Đã thực hiện"}
            # the hash exactly as workflow.audit.record computes it
            digest = audit.event_hash(seq, at, audit.SYSTEM, None, action, None, case_id, subject, None, after, prev)
            rows.append({"seq": seq, "occurred_at": at, "actor": audit.SYSTEM, "action": action, "subject": subject,
                         "after": after, "prev_hash": prev, "hash": digest})
            prev = digest
            if len(rows) == 50_000:
                db.session.execute(insert(AuditEvent), rows)
                rows = []
        if rows:
            db.session.execute(insert(AuditEvent), rows)
        db.session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=n, last_hash=prev))
        db.session.commit()
        build_s = time.perf_counter() - started
        times, cpu = [], []
        for _ in range(RUNS if not quick else 3):
            db.session.remove()
            started, cpu_started = time.perf_counter(), time.process_time()
            result = audit.verify()
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)  # the load inflates wall time; SQLite is in-process
            if not (result.ok and result.checked == n):
                raise SystemExit(f"audit verify failed: {result.describe()}")
        db.session.remove()
    return [common.row(f"audit verify of {n:,} events", round(statistics.median(times), 2), "s",
                       target=10 * n / 1_000_000, runs=[round(t, 2) for t in times], build_s=round(build_s, 1),
                       cpu_s=[round(t, 2) for t in cpu])]


BENCHES = {"trigger": bench_trigger, "memory": bench_memory, "sweep": bench_sweep, "delivery": bench_delivery,
           "campaign": bench_campaign, "audit": bench_audit}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(BENCHES), required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{args.only}-"))
    rows = BENCHES[args.only](args.quick, tmp)
    common.write(args.out, args.only, rows, quick=args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
