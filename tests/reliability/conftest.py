"""The reliability suite (issue 8): every test under this folder carries the ``reliability`` marker,
so ``scripts/test -m reliability`` runs it on its own (it also runs with the rest)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.reliability)
