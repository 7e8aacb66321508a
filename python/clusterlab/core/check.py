"""``profiles.check``: can this profile run jobs, and if not, what exactly to fix.

Each step is a line (name, ok, detail) delivered as soon as it is known, so the forms can
show progress; later steps are skipped when an earlier one makes them meaningless.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from ..common.errors import HostKeyError
from ..config import pythonspec
from ..config.profile import Profile
from ..transports.login_state import login_lines
from .environment import packages
from .environment.remote import check_jobs_root, minor_mismatch
from .runtime import get_runtime


@dataclass
class CheckLine:
    """One step of a check: ``level`` is ok, warning (works, but read this) or error."""

    name: str
    ok: bool
    detail: str
    level: str = ""

    def __post_init__(self) -> None:
        self.level = self.level or ("ok" if self.ok else "error")

    def __str__(self) -> str:
        tag = {"ok": "ok", "warning": "warn", "error": "FAIL"}[self.level]
        return f"[{tag}] {self.name}: {self.detail}"


@dataclass
class CheckReport:
    """All steps; ``ok`` when none is an error (warnings are fine)."""

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
            "lines": [
                {"name": ln.name, "ok": ln.ok, "level": ln.level, "detail": ln.detail}
                for ln in self.lines
            ],
        }


def scheduler_commands(backend: Any) -> list[str]:
    """The commands a batch backend runs (submit, query, cancel, version), by name."""
    names: list[str] = []
    makers = (
        lambda: backend.submit_argv("job.sh", None),
        lambda: backend.query_argv(["1"]),
        lambda: backend.cancel_argv(["1"]),
        lambda: list(backend.version_argv),
    )
    for make in makers:
        with contextlib.suppress(Exception):  # a backend may need a real spec: skip it
            argv = make()
            if argv and argv[0] not in names:
                names.append(argv[0])
    return names


# Which of the commands ($@) are on PATH: one line per found command.
_WHICH = 'for c do command -v -- "$c" >/dev/null 2>&1 && printf "%s\\n" "$c"; done; exit 0'


def run_check(profile: Profile, on_line: Callable[[CheckLine], None] | None = None) -> CheckReport:
    """Connect (auth, host key), find the scheduler's commands, check the job dir, the
    remote Python and cloudpickle, and the packages this kernel imported."""
    report = CheckReport(profile.name)

    def add(name: str, ok: bool, detail: str, level: str = "") -> bool:
        line = CheckLine(name, ok, detail, level)
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
    except HostKeyError as exc:
        add("host key", False, str(exc))
        return report
    except Exception as exc:
        auth = (
            "auth" in str(exc).lower()
            or "key" in type(exc).__name__.lower()
            or "log in" in str(exc).lower()
        )
        add("auth" if auth else "connect", False, str(exc))
        return report
    add("connect", True, f"{where} (home {home}, round trip {elapsed:.0f} ms)")
    if profile.is_remote:
        for name, ok, detail, level in login_lines(profile, runtime.transport):
            add(name, ok, detail, level)
        add("host key", True, f"matches {profile.known_hosts}")
    try:
        describe = runtime.backend.describe()
        commands = scheduler_commands(runtime.backend)
        found = runtime.transport.script(_WHICH, *commands).out.split() if commands else []
        lacking = [c for c in commands if c not in found]
        if lacking:
            add(
                "scheduler",
                False,
                f"{', '.join(lacking)} not found on {where} ({describe}): add setup lines or "
                "a PATH that provides them, or check the profile's scheduler",
            )
        else:
            named = f" ({', '.join(found)} found)" if found else ""
            add("scheduler", True, f"{describe}{named}")
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
    container = runtime.environment.container
    if container is not None:
        try:
            add("container", True, f"{container.engine()} runs {container.image}")
        except Exception as exc:
            add("container", False, str(exc))
            return report
    try:
        info = runtime.backend.probe_environment() or runtime.environment.probe(packages=True)
    except Exception as exc:
        add("python", False, str(exc))
        return report
    local = ".".join(map(str, sys.version_info[:3]))
    problem = minor_mismatch(info["python"])
    how = pythonspec.describe(profile.python) if profile.python else ""
    add(
        "python",
        not problem,
        problem
        or f"{info['executable']} is Python {info['python']} (this kernel: {local})"
        + (f"; {how}" if how else ""),
    )
    if info["cloudpickle"] is None:
        add(
            "cloudpickle",
            False,
            f"not installed for {info['executable']}: run `{info['executable']} -m pip install "
            "--user cloudpickle` on the cluster",
        )
    else:
        same = info["cloudpickle"] == cloudpickle.__version__
        add(
            "cloudpickle",
            True,
            f"{info['cloudpickle']} (this kernel: {cloudpickle.__version__})"
            + ("" if same else "; the same version on both sides is safest"),
            "ok" if same else "warning",
        )
    rows = packages.diff(info.get("packages", {}))
    if rows:
        pins = " ".join(f"{name}=={here}" for name, here, _, _ in rows)
        sent = sum(1 for row in rows if row[3] == "sent")
        add(
            "packages",
            True,
            f"{len(rows)} package(s) are missing or differ there ({sent} needed by the "
            "functions this kernel sent, the rest imported by the kernel); a function that "
            f"uses one fails there. Install them with `{info['executable']} -m pip install "
            f"--user {pins}`, or use environment='sync':\n" + packages.table(rows),
            "warning",
        )
    else:
        add(
            "packages",
            True,
            "every package the functions this kernel sent and the kernel import is there, "
            "same versions",
        )
    if "packages" in info:
        add("ipykernel", True, *_ipykernel_note(profile, info))
    return report


def _ipykernel_note(profile: Profile, info: dict[str, Any]) -> tuple[str, str]:
    """Whether a notebook kernel could run on this cluster: a note, never an error (the
    functions and cells a profile runs need no ipykernel), but a user about to start a
    kernel there learns what to install before a job waits in the queue for nothing."""
    version = info["packages"].get("ipykernel")
    exe = info["executable"]
    if version:
        return (
            f"{version}: a notebook kernel can run on this cluster "
            f"(`clusterlab kernel install {profile.name}`)",
            "ok",
        )
    return (
        f"not installed for {exe}: functions and cells run without it, but a notebook "
        f"kernel on this cluster needs it: run `{exe} -m pip install ipykernel` there, or use "
        "environment='sync' with ipykernel among the profile's packages",
        "warning",
    )
