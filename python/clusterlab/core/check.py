"""``profiles.check``: can this profile run jobs, and if not, what exactly to fix.

Each step is a line (name, ok, detail) delivered as soon as it is known, so the forms can
show progress; later steps are skipped when an earlier one makes them meaningless.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cloudpickle

from ..config.profile import Profile
from .environment import check_jobs_root


@dataclass
class CheckLine:
    """One step of a check."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.name}: {self.detail}"


@dataclass
class CheckReport:
    """All steps; ``ok`` when every one passed."""

    profile: str
    lines: list[CheckLine] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.lines) and all(line.ok for line in self.lines)

    def __str__(self) -> str:
        head = f"profile {self.profile!r}: {'ready' if self.ok else 'NOT ready'}"
        return "\n".join([head, *map(str, self.lines)])

    def to_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "ok": self.ok,
            "lines": [{"name": ln.name, "ok": ln.ok, "detail": ln.detail} for ln in self.lines],
        }


def run_check(profile: Profile, on_line: Callable[[CheckLine], None] | None = None) -> CheckReport:
    """Connect, find the scheduler, check the job dir and the remote Python."""
    from .runtime import get_runtime

    report = CheckReport(profile.name)

    def add(name: str, ok: bool, detail: str) -> bool:
        line = CheckLine(name, ok, detail)
        report.lines.append(line)
        if on_line is not None:
            on_line(line)
        return ok

    try:
        runtime = get_runtime(profile)
        t0 = time.perf_counter()
        res = runtime.transport.run(["true"])
        elapsed = 1000 * (time.perf_counter() - t0)
        if res.returncode != 0:
            raise RuntimeError(f"a trivial command failed: {res.err.strip()}")
        home = runtime.transport.home()
        where = runtime.transport.label
        if not add("connect", True, f"{where} (home {home}, round trip {elapsed:.0f} ms)"):
            return report
    except Exception as exc:
        add("connect", False, str(exc))
        return report
    try:
        add("scheduler", True, runtime.backend.describe())
    except Exception as exc:
        add("scheduler", False, str(exc))
    try:
        root = runtime.jobs_root()
        check_jobs_root(runtime.transport, root)
        add(
            "job directory",
            True,
            f"{root} (private: owner-only, no directory above it is writable by others)",
        )
    except Exception as exc:
        add("job directory", False, str(exc))
    try:
        info = runtime.backend.probe_environment() or runtime.environment.probe()
    except Exception as exc:
        add("python", False, str(exc))
        return report
    local = ".".join(map(str, sys.version_info[:3]))
    same_minor = info["python"].split(".")[:2] == local.split(".")[:2]
    add(
        "python",
        same_minor,
        f"{info['executable']} is Python {info['python']} (this kernel: {local})"
        + (
            ""
            if same_minor
            else "; use the same minor version, or notebook functions may fail to load"
        ),
    )
    if info["cloudpickle"] is None:
        add(
            "cloudpickle",
            False,
            f"not installed for {info['executable']}: run `{info['executable']} -m pip install "
            "--user cloudpickle` on the cluster",
        )
    else:
        add("cloudpickle", True, f"{info['cloudpickle']} (this kernel: {cloudpickle.__version__})")
    return report
