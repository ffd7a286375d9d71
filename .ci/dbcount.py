"""pytest plugin for CI: counts the database tests (those using the ``database_url`` fixture) by outcome.

Loaded by .ci/run with ``-p dbcount``; writes ``{"passed": n, "failed": n, "skipped": n, "url": ...}``
to the file named by CI_DB_COUNT_FILE so the run can fail when PostgreSQL's database tests skipped.
"""

from __future__ import annotations

import json
import os

import pytest

_counts = {"passed": 0, "failed": 0, "skipped": 0}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if "database_url" not in getattr(item, "fixturenames", ()):
        return
    if report.when == "setup" and (report.skipped or report.failed):
        _counts["skipped" if report.skipped else "failed"] += 1
    elif report.when == "call":
        _counts["skipped" if report.skipped else report.outcome] += 1


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get("CI_DB_COUNT_FILE")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump({**_counts, "url": os.environ.get("TEST_DATABASE_URL", "sqlite")}, handle)
