"""Transitions per second, ours beside the peers, side by side in one run (issue 7).

    .venv-bench/bin/python bench/throughput.py --cases 10000 --runs 5 \
        --pg postgresql+psycopg://postgres@127.0.0.1:5432/test_h6 \
        --pg-django postgresql+psycopg://postgres@127.0.0.1:5432/test_h6b \
        --pg-raw postgresql+psycopg://postgres@127.0.0.1:5432/test_h6c \
        --pg-django-view postgresql+psycopg://postgres@127.0.0.1:5432/test_h6d \
        --pg-ceiling postgresql+psycopg://postgres@127.0.0.1:5432/test_h6e

The same work for every system: N cases, each taken planning -> publication (five arrows through the six
stages), every transition its own committed transaction that loads the case, checks the transition is
allowed, changes the stage and writes a log row. django-fsm runs twice: as the issue states the work, and
"as a view", which also loads the signed-in user and checks its permission on every arrow, as ours does. Ours goes through ``workflow.cases.fire`` (optimistic
version check, role and commune scope, the guards over the 84 sub-criteria's scores, deadlines closed and
opened, the audit hash chain, the outbox event), in a fresh session per case as a request would. The N
cases are split into ``--runs`` slices; each run advances one slice in every system in turn, so the load
on the machine falls on all of them alike, and the median of the runs' rates is reported. The ceiling
replays the statements ours sent in each run through the raw driver on a copy of ours' database
(``peers/replay.py``): what any code doing exactly our reads and writes could reach.
SQLite: WAL and the same ``synchronous`` for all (read back from each connection and recorded).
--pg* EMPTY the given databases, and are VACUUM ANALYZEd before each run (as autovacuum keeps a production
server; this machine's runs with autovacuum off). Peers (Django, SpiffWorkflow) need .venv-bench; without
them they are skipped.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import common
from fixtures import FORWARD, NOW


class Ours:
    """The real workflow service on one database."""

    def __init__(self, url: str, tmp: Path):
        from peers.replay import Recorder

        if url.startswith("postgresql"):
            common.empty_postgres(url)
        self.app = common.make_app(url, tmp)
        self.recorder = Recorder()  # what it sends, for the ceiling (peers/replay.py)
        with self.app.app_context():
            from models import db

            self.recorder.attach(db.engine)

    def build(self, n: int) -> list[int]:
        import fixtures

        from models import db

        with self.app.app_context():
            self.built = fixtures.campaign_with_cases(n)
            fixtures.analyze()
            db.session.remove()
            db.engine.dispose()  # no connection left open: the ceiling copies this database next
            return self.built.case_ids

    def settings(self) -> dict:
        from models import db

        with self.app.app_context():
            if db.engine.dialect.name == "sqlite":
                found = common.sqlite_settings(db.session)
            else:
                found = {"synchronous_commit": db.session.execute(common_text("SHOW synchronous_commit")).scalar()}
            db.session.remove()
            db.engine.dispose()  # PostgreSQL copies a database only while nobody is connected to it
            return found

    def advance(self, case_ids: list[int], forward) -> float:
        from models import db
        from workflow import cases, queries, txn, users

        built = self.built
        with self.app.app_context():
            self.recorder.start()
            started = time.perf_counter()
            for case_id in case_ids:
                for name, who in forward:
                    # the actor and the case as a request loads them: Flask-Login's user loader (or the API's
                    # token check), then the case the actor may see (the pages' and the API's case_or_404)
                    actor = users.signed_in(built.officer_of[case_id] if who == "officer" else built.secretariat_id)
                    case = queries.visible_case(actor, case_id)
                    result = cases.fire(case, name, actor, now=NOW, expected_version=case.version)
                    if not result.fired:
                        raise RuntimeError(f"{name} did not fire on case {case_id}")
                    txn.commit()
                db.session.remove()  # the next case starts from an empty session, like a new request
            seconds = time.perf_counter() - started
            self.recorder.stop()
            return seconds

    def check(self, case_ids: list[int]) -> dict:
        from sqlalchemy import func, select

        from models import AuditEvent, Case, DomainEvent, db
        from workflow import audit

        with self.app.app_context():
            published = db.session.scalar(select(func.count()).select_from(Case).where(
                Case.id.in_(case_ids), Case.stage == "publication"))
            audit_rows = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "case.transition"))
            outbox = db.session.scalar(select(func.count()).select_from(DomainEvent))
            head = db.session.execute(common_text("SELECT seq, last_hash FROM audit_head")).one()
            chain = audit.verify()
            db.session.remove()
        return {"published": published, "log_rows": audit_rows, "outbox_events": outbox, "chain_ok": chain.ok,
                "audit_head": list(head)}


def common_text(sql: str):
    from sqlalchemy import text

    return text(sql)


CEILING = "ours' statements replayed through sqlite3 (ceiling)"
CEILING_BARE = "ours' statements replayed through sqlite3, no secondary index (ceiling)"
CEILING_PG = "ours' statements replayed through psycopg (ceiling), PostgreSQL"
AS_VIEW = "django-fsm-2 + django-fsm-log as a view (user loaded, permission checked), SQLite"
AS_VIEW_PG = "django-fsm-2 + django-fsm-log as a view (user loaded, permission checked), PostgreSQL"


def systems(args, tmp: Path) -> dict:
    """Every system that can run here, by label."""
    from peers.raw import Raw
    from peers.replay import Replay

    ours = Ours(f"sqlite:///{tmp / 'ours.sqlite3'}", tmp)
    # the ceiling right after ours: it copies ours' database once built, and replays each run's statements
    found = {"ours, SQLite": ours, CEILING: Replay(tmp / "ours.sqlite3", tmp / "ceiling.sqlite3", ours.recorder),
             CEILING_BARE: Replay(tmp / "ours.sqlite3", tmp / "ceiling-bare.sqlite3", ours.recorder,
                                  drop_indexes=True)}
    peers_ok = True
    try:
        import django  # noqa: F401
        import SpiffWorkflow  # noqa: F401
    except ImportError:
        peers_ok = False
        print("  (peers not installed: run through bench/run, which sets up .venv-bench)", flush=True)
    if peers_ok:
        from peers import django_fsm
        from peers.spiff import Spiff

        dbs = {"default": f"sqlite:///{tmp / 'django.sqlite3'}", "view": f"sqlite:///{tmp / 'django-view.sqlite3'}"}
        if args.pg_django:
            common.empty_postgres(args.pg_django)
            dbs["pg"] = args.pg_django
        if args.pg_django_view:
            common.empty_postgres(args.pg_django_view)
            dbs["pg-view"] = args.pg_django_view
        django_fsm.configure(dbs)
        found["django-fsm-2 + django-fsm-log, SQLite"] = django_fsm.DjangoFsm("default")
        found[AS_VIEW] = django_fsm.DjangoFsm("view", as_view=True)
        found["SpiffWorkflow (BPMN, serialised), SQLite"] = Spiff(tmp / "spiff.sqlite3")
    found["raw sqlite3 (floor)"] = Raw(tmp / "raw.sqlite3")
    if args.pg:
        found["ours, PostgreSQL"] = ours_pg = Ours(args.pg, tmp)
        if args.pg_ceiling:
            found[CEILING_PG] = Replay(args.pg, args.pg_ceiling, ours_pg.recorder)
        if peers_ok and args.pg_django:
            found["django-fsm-2 + django-fsm-log, PostgreSQL"] = django_fsm.DjangoFsm("pg")
        if peers_ok and args.pg_django_view:
            found[AS_VIEW_PG] = django_fsm.DjangoFsm("pg-view", as_view=True)
        if args.pg_raw:
            common.empty_postgres(args.pg_raw)
            found["raw psycopg (floor), PostgreSQL"] = Raw(args.pg_raw)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL for ours (EMPTIED)")
    parser.add_argument("--pg-django", metavar="URL", help="PostgreSQL for the Django peer (EMPTIED)")
    parser.add_argument("--pg-raw", metavar="URL", help="PostgreSQL for the raw-driver floor (EMPTIED)")
    parser.add_argument("--pg-django-view", metavar="URL", help="PostgreSQL for the Django peer as a view (EMPTIED)")
    parser.add_argument("--pg-ceiling", metavar="URL", help="PostgreSQL for the ceiling, a copy of ours' (DROPPED)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-transitions-"))
    found = systems(args, tmp)
    ids, settings = {}, {}
    for label, system in found.items():
        started = time.perf_counter()
        ids[label] = system.build(args.cases)
        settings[label] = system.settings()
        print(f"  built {label}: {len(ids[label])} cases in {time.perf_counter() - started:.1f} s {settings[label]}",
              flush=True)
    per_run = args.cases // args.runs
    rates: dict[str, list[float]] = {label: [] for label in found}
    pg_urls = [url for url in (args.pg, args.pg_django, args.pg_raw, args.pg_django_view, args.pg_ceiling) if url]
    for run in range(args.runs):
        for url in pg_urls:  # not timed; the same for every PostgreSQL system
            common.vacuum_postgres(url)
        for label, system in found.items():
            chunk = ids[label][run * per_run:(run + 1) * per_run]
            seconds = system.advance(chunk, FORWARD)
            rates[label].append(len(chunk) * len(FORWARD) / seconds)
        print(f"  run {run + 1}/{args.runs}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items()),
              flush=True)
    checks = {label: system.check(ids[label][:per_run * args.runs]) for label, system in found.items()}
    expected = per_run * args.runs
    for label, got in checks.items():
        if got["published"] != expected or got["log_rows"] < expected * len(FORWARD):
            raise SystemExit(f"{label} did not do the work: {got} (expected {expected} published)")
    for ceiling, of in ((CEILING, "ours, SQLite"), (CEILING_BARE, "ours, SQLite"), (CEILING_PG, "ours, PostgreSQL")):
        if ceiling in checks and checks[ceiling]["audit_head"] != checks[of]["audit_head"]:
            raise SystemExit(f"{ceiling} did not end where ours did: {checks[ceiling]} against {checks[of]}")

    med = {label: statistics.median(v) for label, v in rates.items()}
    rows = [common.row(f"transitions/s: {label}", round(m), "per s", higher_is_better=True,
                       runs=[round(r) for r in rates[label]], settings=settings[label], check=checks[label])
            for label, m in med.items()]
    sqlite_peers = [k for k in med if k.endswith("SQLite") and not k.startswith("ours")]
    if sqlite_peers:
        best = max(sqlite_peers, key=med.get)
        rows.append(common.row("ratio ours ÷ best peer, SQLite WAL", round(med["ours, SQLite"] / med[best], 2), "×",
                               target=2.0, higher_is_better=True, best_peer=best))
    if AS_VIEW in med:  # the same checks per arrow as ours makes (no target: the target is against the best peer)
        rows.append(common.row("ratio ours ÷ django-fsm as a view, SQLite WAL",
                               round(med["ours, SQLite"] / med[AS_VIEW], 2), "×"))
    rows.append(common.row("ratio ours ÷ raw-driver floor, SQLite", round(med["ours, SQLite"] /
                                                                      med["raw sqlite3 (floor)"], 3), "×",
                           target=0.25, higher_is_better=True))
    if CEILING in med:  # bounds: what any code doing exactly our statements could reach (no target)
        rows.append(common.row("ratio ours ÷ ceiling (the statements' share of our arrow), SQLite",
                               round(med["ours, SQLite"] / med[CEILING], 3), "×"))
        if sqlite_peers:
            rows.append(common.row("ratio ceiling ÷ best peer, SQLite WAL", round(med[CEILING] / med[best], 2), "×"))
        rows.append(common.row("ratio ceiling ÷ raw-driver floor, SQLite",
                               round(med[CEILING] / med["raw sqlite3 (floor)"], 3), "×"))
    if CEILING_BARE in med:
        rows.append(common.row("ratio ceiling without secondary indexes ÷ raw-driver floor, SQLite",
                               round(med[CEILING_BARE] / med["raw sqlite3 (floor)"], 3), "×"))
    if "ours, PostgreSQL" in med:
        peer = "django-fsm-2 + django-fsm-log, PostgreSQL"
        if peer in med:
            rows.append(common.row("ratio ours ÷ django-fsm peer, PostgreSQL",
                                   round(med["ours, PostgreSQL"] / med[peer], 2), "×"))
        if AS_VIEW_PG in med:
            rows.append(common.row("ratio ours ÷ django-fsm as a view, PostgreSQL",
                                   round(med["ours, PostgreSQL"] / med[AS_VIEW_PG], 2), "×"))
        if "raw psycopg (floor), PostgreSQL" in med:
            rows.append(common.row("ratio ours ÷ raw-driver floor, PostgreSQL",
                                   round(med["ours, PostgreSQL"] / med["raw psycopg (floor), PostgreSQL"], 3), "×",
                                   target=0.25, higher_is_better=True))
        if CEILING_PG in med:
            rows.append(common.row("ratio ours ÷ ceiling (the statements' share of our arrow), PostgreSQL",
                                   round(med["ours, PostgreSQL"] / med[CEILING_PG], 3), "×"))
            if peer in med:
                rows.append(common.row("ratio ceiling ÷ django-fsm peer, PostgreSQL",
                                       round(med[CEILING_PG] / med[peer], 2), "×"))
            if "raw psycopg (floor), PostgreSQL" in med:
                rows.append(common.row("ratio ceiling ÷ raw-driver floor, PostgreSQL",
                                       round(med[CEILING_PG] / med["raw psycopg (floor), PostgreSQL"], 3), "×"))
    common.write(args.out, "transitions beside the peers", rows,
                 fixture={"cases": expected, "transitions_per_case": len(FORWARD), "runs": args.runs,
                          "cases_per_run": per_run, "sqlite": {"journal_mode": common.SQLITE_JOURNAL,
                                                               "synchronous": common.SQLITE_SYNCHRONOUS}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
