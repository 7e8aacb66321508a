"""A pytest plugin that writes every skipped test and its reason to the JSON file named by
``CLUSTERLAB_SKIP_REPORT`` (``make test`` sets it), for ``scripts/check_skips.py``,
which lists the skips of every suite together and fails on one without a reason: a test
that stops running must say why, where everyone sees it.

Registered by tests/conftest.py; without the variable it writes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPORT_ENV = "CLUSTERLAB_SKIP_REPORT"


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason pytest shows for a skip ('Skipped: ' removed)."""
    longrepr: Any = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(text).removeprefix("Skipped: ").strip()


class SkipReport:
    def __init__(self) -> None:
        self.skips: list[dict[str, str]] = []

    def _note(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skips.append({"test": report.nodeid, "reason": skip_reason(report)})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = os.environ.get(REPORT_ENV)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps({"runner": "pytest", "skips": self.skips}, indent=1))
