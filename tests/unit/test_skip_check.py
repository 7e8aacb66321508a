"""No silent skips: pytest writes every skip and its reason (tests/skipreport.py), and
scripts/check_skips.py, run by `make test` after pytest and vitest, lists them and fails
on a skip without a reason, a vitest skip (vitest has no reasons) or a missing report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "check_skips.py"

SAMPLE = """
import pytest

def test_runs():
    pass

def test_needs_root():
    pytest.skip("needs root to mount a tmpfs: run as root")

@pytest.mark.skip
def test_silent():
    pass

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False
"""


def _pytest_report(tmp_path: Path, body: str) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "conftest.py").write_text(
        "from tests.skipreport import SkipReport\n\n"
        "def pytest_configure(config):\n"
        "    config.pluginmanager.register(SkipReport(), 'skips')\n"
    )
    (suite / "test_sample.py").write_text(textwrap.dedent(body))
    report = tmp_path / "reports" / "pytest-skips.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLUSTERLAB_SKIP_REPORT": str(report)}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=suite,
        env=env,
        capture_output=True,
        check=False,
        timeout=300,
    )
    return report


def _check(*reports: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), *map(str, reports)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _vitest(tmp_path: Path, status: str) -> Path:
    path = tmp_path / "vitest.json"
    result = {"fullName": "the kernel schema has a tooltip", "status": status}
    path.write_text(
        json.dumps({"testResults": [{"name": "/x/form.test.ts", "assertionResults": [result]}]})
    )
    return path


def test_every_skip_is_listed_and_one_without_a_reason_fails(tmp_path: Path) -> None:
    report = _pytest_report(tmp_path, SAMPLE)
    skips = json.loads(report.read_text())["skips"]
    assert [s["test"].split("::")[1] for s in skips] == ["test_needs_root", "test_silent"]
    run = _check(report, _vitest(tmp_path, "passed"))
    assert run.returncode == 1
    assert "test_needs_root: needs root to mount a tmpfs: run as root" in run.stdout
    assert "test_silent: NO REASON GIVEN" in run.stdout
    assert "1 test(s) skipped without a reason" in run.stderr


def test_skips_with_reasons_pass_and_are_listed(tmp_path: Path) -> None:
    report = _pytest_report(
        tmp_path,
        SAMPLE.replace("@pytest.mark.skip\n", "@pytest.mark.skip(reason='later: issue 9')\n"),
    )
    run = _check(report, _vitest(tmp_path, "passed"))
    assert run.returncode == 0, run.stderr
    assert "2 skipped test(s)" in run.stdout and "test_silent: later: issue 9" in run.stdout


def test_a_skipped_vitest_test_fails(tmp_path: Path) -> None:
    report = _pytest_report(tmp_path, "def test_runs():\n    pass\n")
    run = _check(report, _vitest(tmp_path, "skipped"))
    assert run.returncode == 1
    assert "vitest  form.test.ts > the kernel schema has a tooltip: NO REASON GIVEN" in run.stdout


def test_a_suite_that_did_not_run_fails(tmp_path: Path) -> None:
    run = _check(tmp_path / "pytest-skips.json", _vitest(tmp_path, "passed"))
    assert run.returncode == 1 and "is missing: its suite did not run" in run.stderr
