"""pytest plugin for CI: counts the database tests (those using the ``database_url`` fixture) by outcome.

Loaded by .ci/run with ``-p dbcount``; writes ``{"passed": n, "failed": n, "skipped": n, "url": ...}``
to the file named by CI_DB_COUNT_FILE so the run can fail when PostgreSQL's database tests skipped.
Works with pytest-xdist: a worker marks each database test's reports (user_properties travel with them),
and only the controlling process counts them and writes the file.
"""

from __future__ import annotations

import json
import os

import pytest

MARK = ("database_test", True)
_counts = {"passed": 0, "failed": 0, "skipped": 0}
_is_worker = False


def pytest_configure(config):
    global _is_worker
    _is_worker = hasattr(config, "workerinput")  # an xdist worker: its controller counts


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark the item before its report is made (a report copies item.user_properties), in any process."""
    if "database_url" in getattr(item, "fixturenames", ()) and MARK not in item.user_properties:
        item.user_properties.append(MARK)
    yield


def pytest_runtest_logreport(report):
    if _is_worker or not any(tuple(p) == MARK for p in report.user_properties):
        return
    if report.when == "setup" and (report.skipped or report.failed):
        _counts["skipped" if report.skipped else "failed"] += 1
    elif report.when == "call":
        _counts["skipped" if report.skipped else report.outcome] += 1


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get("CI_DB_COUNT_FILE")
    if target and not _is_worker:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump({**_counts, "url": os.environ.get("TEST_DATABASE_URL", "sqlite")}, handle)
