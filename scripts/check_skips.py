#!/usr/bin/env python3
"""List every skipped test of the suites `make test` ran, with its reason, and fail on a
skip that has none (or on a suite whose report is missing: it did not run).

    scripts/check_skips.py REPORT.json...

A report is either what tests/skipreport.py writes for pytest (``{"runner": "pytest",
"skips": [{"test", "reason"}]}``) or vitest's JSON reporter output. pytest's own
placeholders ("unconditional skip", "condition: ...") are no reason; vitest has no skip
reasons at all, so any skipped, pending or todo vitest test fails the check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

NO_REASON = ("", "unconditional skip")
VITEST_SKIPPED = ("skipped", "pending", "todo")


def skips_of(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(runner, test, reason) for every skip in one report; reason '' when it has none."""
    if report.get("runner") == "pytest":
        out = []
        for skip in report["skips"]:
            reason = skip["reason"]
            if reason in NO_REASON or reason.startswith("condition:"):
                reason = ""
            out.append(("pytest", skip["test"], reason))
        return out
    if "testResults" in report:  # vitest --reporter=json
        return [
            ("vitest", f"{Path(f['name']).name} > {t['fullName']}", "")
            for f in report["testResults"]
            for t in f.get("assertionResults", [])
            if t.get("status") in VITEST_SKIPPED
        ]
    raise ValueError("neither a pytest skip report nor vitest JSON output")


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    skips: list[tuple[str, str, str]] = []
    for path in paths:
        try:
            skips += skips_of(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            print(f"check-skips: {path} is missing: its suite did not run", file=sys.stderr)
            failed = True
        except (ValueError, KeyError) as exc:
            print(f"check-skips: {path} cannot be read ({exc})", file=sys.stderr)
            failed = True
    print(f"check-skips: {len(skips)} skipped test(s)")
    for runner, test, reason in skips:
        print(f"  {runner:<7} {test}: {reason or 'NO REASON GIVEN'}")
    silent = [test for _, test, reason in skips if not reason]
    if silent:
        print(
            f"check-skips: {len(silent)} test(s) skipped without a reason: make them run, "
            "or skip with a reason that says what to do (pytest.skip('needs root: ...'))",
            file=sys.stderr,
        )
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
