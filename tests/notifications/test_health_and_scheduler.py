"""/healthz, the scheduler's jobs and leases, and the outbox/scheduler commands."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import OutboxMessage, SchedulerState
from notifications import scheduler
from states import Stage
from tests.conftest import NOW
from tests.notifications.conftest import queue
from workflow.clock import utcnow


def _set_last_sweep(db, moment):
    state = db.session.get(SchedulerState, "sweep") or SchedulerState(name="sweep")
    state.last_completed_at = moment
    db.session.add(state)
    db.session.commit()


def test_healthz_reports_a_fresh_sweep(app, db):
    _set_last_sweep(db, utcnow() - dt.timedelta(minutes=3))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    data = response.get_json()
    assert data["database"] == "ok" and data["stale"] is False
    assert 170 <= data["last_sweep_age_seconds"] <= 200
    assert data["last_sweep_at"] is not None


def test_healthz_flags_a_stale_or_missing_sweep(app, db):
    data = app.test_client().get("/healthz").get_json()
    assert data["last_sweep_at"] is None and data["stale"] is True
    _set_last_sweep(db, utcnow() - dt.timedelta(minutes=16))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json()["stale"] is True


def test_healthz_is_503_when_the_database_is_unreachable(app, db, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", broken)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_the_scheduler_has_three_stable_coalesced_jobs(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    sched = scheduler.configure(BackgroundScheduler(timezone=dt.UTC), app)
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == {"sweep", "deliver", "digest"}
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time > 0
    assert jobs["sweep"].trigger.interval == dt.timedelta(minutes=5)
    assert jobs["deliver"].trigger.interval == dt.timedelta(minutes=1)
    # 07:30 in Hà Nội is 00:30 UTC
    fire = jobs["digest"].trigger.get_next_fire_time(None, dt.datetime(2023, 11, 6, 0, 0, tzinfo=dt.UTC))
    assert fire.astimezone(dt.UTC) == dt.datetime(2023, 11, 6, 0, 30, tzinfo=dt.UTC)


def test_only_one_process_holds_a_lease_until_it_lapses(app, db):
    ttl = dt.timedelta(minutes=4)
    assert scheduler.take_lease("sweep", owner="a", now=NOW, ttl=ttl)
    assert not scheduler.take_lease("sweep", owner="b", now=NOW + dt.timedelta(minutes=1), ttl=ttl)
    assert scheduler.take_lease("sweep", owner="a", now=NOW + dt.timedelta(minutes=2), ttl=ttl)  # renewal
    assert scheduler.take_lease("sweep", owner="b", now=NOW + dt.timedelta(minutes=7), ttl=ttl)  # fail-over
    state = db.session.get(SchedulerState, "sweep")
    db.session.refresh(state)
    assert state.lease_owner == "b"


def test_run_job_deliver_sends_and_records_completion(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    for i in range(3):
        queue(case, make.officers["10001"], key=f"job-{i}")
    db.session.commit()
    summary = scheduler.run_job(app, "deliver", now=NOW, owner="t")
    assert "3 sent" in summary and len(smtp.messages) == 3
    assert db.session.get(SchedulerState, "deliver").last_as_of == NOW


def test_run_job_sweep_queues_and_marks_the_sweep(app, db, make):
    pytest.importorskip("workflow.sweep")
    campaign = make.campaign()
    make.advance(make.case_of(campaign, "10001"), Stage.self_assessment)
    db.session.commit()
    moment = dt.datetime(2023, 11, 8, 2, 0, tzinfo=dt.UTC)  # 08/11 09:00 local: 2 working days before
    first = scheduler.run_job(app, "sweep", now=moment, owner="t")
    assert "1 message(s) queued" in first and "by t" in first
    db.session.expire_all()
    assert db.session.get(SchedulerState, "sweep").last_as_of == moment
    # a second scheduler right after: the deadline has moved on, nothing doubles
    again = scheduler.run_job(app, "sweep", now=moment + dt.timedelta(minutes=1), owner="other")
    assert "0 deadline(s) due, 0 message(s) queued" in again
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1


def test_scheduler_settings_come_from_config_or_environment(app, monkeypatch):
    from apscheduler.schedulers.background import BackgroundScheduler

    monkeypatch.setenv("SCHEDULER_SWEEP_EVERY", "2.5")
    monkeypatch.setenv("SCHEDULER_JOBS", "sweep, deliver")
    app.config["SCHEDULER_DELIVER_BATCH"] = 7
    settings = scheduler.Settings.of(app)
    assert settings.sweep_every == dt.timedelta(seconds=2.5) and settings.deliver_batch == 7
    assert settings.jobs == ("sweep", "deliver")
    sched = scheduler.configure(BackgroundScheduler(timezone=dt.UTC), app, settings)
    assert {job.id for job in sched.get_jobs()} == {"sweep", "deliver"}
    assert sched.get_job("sweep").trigger.interval == dt.timedelta(seconds=2.5)
    monkeypatch.setenv("SCHEDULER_JOBS", "sweep,nap")
    with pytest.raises(ValueError, match="nap"):
        scheduler.Settings.of(app)


def test_drained_means_nothing_due_and_nothing_queued(app, db, make):
    campaign = make.campaign()
    make.advance(make.case_of(campaign, "10001"), Stage.self_assessment)
    db.session.commit()
    before_first_reminder = dt.datetime(2023, 11, 2, 2, 0, tzinfo=dt.UTC)
    first_reminder = dt.datetime(2023, 11, 3, 2, 0, tzinfo=dt.UTC)
    assert scheduler.is_drained(now=before_first_reminder)
    assert not scheduler.is_drained(now=first_reminder)
    scheduler.run_job(app, "sweep", now=first_reminder, owner="t")
    assert not scheduler.is_drained(now=first_reminder)  # the reminder waits in the outbox
    assert scheduler.is_drained(now=first_reminder, jobs=("sweep",))


def test_scheduler_is_not_started_in_tests_or_when_disabled(app):
    assert scheduler.should_start_in_web(app) is False
    assert scheduler.start_in_web(app) is None


def test_the_reloader_watcher_does_not_start_a_scheduler(app, monkeypatch):
    app.config.update(SCHEDULER_IN_WEB=True, TESTING=False)
    app.debug = True
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    assert scheduler.should_start_in_web(app) is False
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    assert scheduler.should_start_in_web(app) is True
    app.debug = False
    monkeypatch.delenv("WERKZEUG_RUN_MAIN")
    assert scheduler.should_start_in_web(app) is True
    app.config.update(SCHEDULER_IN_WEB=False, TESTING=True)


# --- commands ------------------------------------------------------------------------------------

def test_outbox_deliver_and_list_commands(app, db, make, smtp):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    for i in range(4):
        queue(case, make.officers["10001"], key=f"cli-{i}")
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["outbox", "deliver", "--now", "2023-11-01T09:00", "--batch", "3"])
    assert result.exit_code == 0, result.output
    assert "4 claimed, 4 sent" in result.output and len(smtp.messages) == 4
    listing = runner.invoke(args=["outbox", "list", "--status", "sent"])
    assert listing.exit_code == 0 and "4 of 4 message(s) with status sent" in listing.output
    assert "queued as TEST" in listing.output
    assert "0 of 0" in runner.invoke(args=["outbox", "list", "--status", "failed"]).output


def test_outbox_commands_refuse_bad_arguments_in_one_line(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["outbox", "deliver", "--now", "yesterday"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "not an ISO date" in result.output
    result = runner.invoke(args=["outbox", "list", "--status", "lost"])
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_deliver_command_fails_when_smtp_is_down(app, db, make, smtp):
    campaign = make.campaign()
    queue(make.case_of(campaign, "10001"), make.officers["10001"], key="down")
    db.session.commit()
    smtp.stop()
    result = app.test_cli_runner().invoke(args=["outbox", "deliver", "--now", "2023-11-01T09:00"])
    assert result.exit_code == 1 and "1 to retry" in result.output
    row = db.session.scalar(select(OutboxMessage))
    assert row.status == "queued" and row.attempts == 1


def test_scheduler_run_job_and_status_commands(app, db, make, smtp):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["scheduler", "run-job", "deliver", "--now", "2023-11-01T09:00"])
    assert result.exit_code == 0, result.output
    status = runner.invoke(args=["scheduler", "status"])
    assert "deliver" in status.output and "job state row(s)" in status.output
    bad = runner.invoke(args=["scheduler", "run-job", "nap"])
    assert bad.exit_code != 0


def test_feed_commands(app, db, make):
    make.campaign()
    db.session.commit()
    runner = app.test_cli_runner()
    email = make.officers["10001"].email
    result = runner.invoke(args=["feeds", "issue", email])
    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert "/ical/" in url and url.endswith(".ics")
    path = url[url.index("/ical/"):]
    assert app.test_client().get(path).status_code == 200
    assert runner.invoke(args=["feeds", "revoke", email]).exit_code == 0
    assert app.test_client().get(path).status_code == 404
    again = runner.invoke(args=["feeds", "revoke", email])
    assert again.exit_code == 1 and "no live feed URL" in again.output
    unknown = runner.invoke(args=["feeds", "issue", "nobody@example.vn"])
    assert unknown.exit_code == 1 and "no user" in unknown.output


def test_a_clean_shutdown_releases_the_leases(app, db):
    ttl = dt.timedelta(minutes=4)
    assert scheduler.take_lease("sweep", owner="a", now=NOW, ttl=ttl)
    assert scheduler.take_lease("digest", owner="a", now=NOW, ttl=ttl)
    assert scheduler.take_lease("other", owner="z", now=NOW, ttl=ttl)
    assert scheduler.release_leases("a") == 2
    assert scheduler.take_lease("sweep", owner="b", now=NOW + dt.timedelta(seconds=1), ttl=ttl)
    assert not scheduler.take_lease("other", owner="b", now=NOW + dt.timedelta(seconds=1), ttl=ttl)


def test_in_web_the_scheduler_starts_once_on_the_first_request(database_url, tmp_path, monkeypatch):
    from tests.conftest import _make_app

    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    web_app = _make_app(database_url, tmp_path)
    web_app.config.update(SCHEDULER_IN_WEB=True, TESTING=False)
    # the hook is registered at create_app time only when SCHEDULER_IN_WEB is set: register it now
    scheduler.init_app(web_app)
    assert scheduler._web_scheduler is None
    try:
        client = web_app.test_client()
        assert client.get("/healthz").status_code == 200
        started = scheduler._web_scheduler
        assert started is not None and started.running
        assert {job.id for job in started.get_jobs()} == {"sweep", "deliver", "digest"}
        client.get("/healthz")
        assert scheduler._web_scheduler is started  # once per process
    finally:
        if scheduler._web_scheduler is not None:
            scheduler._web_scheduler.shutdown(wait=False)
            scheduler._web_scheduler = None
        with web_app.app_context():
            from models import db

            db.engine.dispose()
