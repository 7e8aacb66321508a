"""Where and how a job's code runs, beyond its resources: the working directory, extra
environment variables, which Python environment, and the files that travel with it.

A profile sets defaults (``workdir``, ``env``, ``environment``); a call overrides them
(``f.options(workdir=..., env={...}, files=[...], outputs=[...])``, ``%%cluster --workdir
... --env K=V``). Every value is checked here, so a typo fails at once, not on the cluster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..common.errors import ProfileError
from . import validators
from .attempts import ATTEMPT_OPTIONS, AttemptPolicy, parse_attempts
from .resultlimit import DEFAULT_RESULT_LIMIT, limit_bytes

OPTION_NAMES = (
    "workdir",
    "env",
    "environment",
    "files",
    "outputs",
    "outputs_dir",
    "result_limit",
    *ATTEMPT_OPTIONS,
)


@dataclass(frozen=True)
class RunOptions:
    """Per-call settings; ``None``/empty means "the profile's"."""

    workdir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    environment: str | None = None
    files: tuple[str, ...] = ()  # local paths, uploaded into the working dir
    outputs: tuple[str, ...] = ()  # globs in the working dir, downloaded with the result
    outputs_dir: str | None = None  # where outputs land here (default: the cwd at submit)
    attempts: AttemptPolicy = field(default_factory=AttemptPolicy)  # requeue, retries
    result_limit: int | None = None  # bytes; a larger result stays on the cluster (0: none)

    def merged(self, other: RunOptions) -> RunOptions:
        """``other`` on top of this (env tables are combined, later wins)."""
        return RunOptions(
            workdir=other.workdir if other.workdir is not None else self.workdir,
            env={**self.env, **other.env},
            environment=other.environment or self.environment,
            files=(*self.files, *other.files),
            outputs=(*self.outputs, *other.outputs),
            outputs_dir=other.outputs_dir if other.outputs_dir is not None else self.outputs_dir,
            attempts=self.attempts.merged(other.attempts),
            result_limit=(
                other.result_limit if other.result_limit is not None else self.result_limit
            ),
        )

    def with_cwd(self) -> RunOptions:
        """Outputs land in the directory this call was made from, fixed now."""
        if not self.outputs:
            return self
        return replace(self, outputs_dir=os.path.abspath(self.outputs_dir or os.getcwd()))


def _fail(name: str, problem: str) -> ProfileError:
    return ProfileError(name, problem)


def _paths(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | os.PathLike):
        value = [value]
    if not isinstance(value, Sequence | set | frozenset):
        raise _fail(name, f"{name}= takes a list of paths, e.g. {name}=['data.csv']")
    out = []
    for item in value:
        text = os.fspath(item) if isinstance(item, str | os.PathLike) else None
        if not text or any(ch in text for ch in "\n\r\0"):
            raise _fail(name, f"{item!r:.40} is not a usable path: one line of text")
        out.append(text)
    return tuple(out)


def input_target(local: str) -> str:
    """Where a local file lands in the working dir: its relative path when it lies under
    the current directory (``data/a.csv``), else its name."""
    rel = os.path.relpath(os.path.abspath(local))
    if rel.startswith(os.pardir) or os.path.isabs(rel):
        return os.path.basename(local)
    return rel.replace(os.sep, "/")


def parse_run_options(values: Mapping[str, Any]) -> RunOptions:
    """Validated :class:`RunOptions` from keyword arguments (only :data:`OPTION_NAMES`)."""
    unknown = sorted(set(values) - set(OPTION_NAMES))
    if unknown:
        raise _fail(unknown[0], f"unknown option; valid ones are {', '.join(OPTION_NAMES)}")
    kw: dict[str, Any] = {}
    try:
        if values.get("workdir") is not None:
            kw["workdir"] = validators.check_workdir(values["workdir"])
        if values.get("env") is not None:
            kw["env"] = validators.check_env(values["env"])
        if values.get("environment") is not None:
            kw["environment"] = validators.check_environment(values["environment"])
    except ValueError as exc:
        name = next(k for k in ("workdir", "env", "environment") if k in values)
        raise _fail(name, str(exc)) from None
    files = _paths("files", values.get("files"))
    for path in files:
        if not os.path.isfile(path):
            raise _fail("files", f"{path!r} is not a file here: files= uploads local files")
    outputs = _paths("outputs", values.get("outputs"))
    for pattern in outputs:
        parts = pattern.replace("\\", "/").split("/")
        if pattern.startswith(("/", "~")) or ".." in parts:
            raise _fail(
                "outputs",
                f"{pattern!r}: outputs= are globs inside the job's working dir, such as "
                "'*.png' or 'results/**/*.csv' (no absolute paths, no '..')",
            )
    kw["files"], kw["outputs"] = files, outputs
    try:
        kw["attempts"] = parse_attempts({k: v for k, v in values.items() if k in ATTEMPT_OPTIONS})
    except ValueError as exc:
        name = next(k for k in ATTEMPT_OPTIONS if k in values and values[k] is not None)
        raise _fail(name, str(exc)) from None
    if values.get("result_limit") is not None:
        try:
            kw["result_limit"] = limit_bytes(values["result_limit"])
        except ValueError as exc:
            raise _fail("result_limit", str(exc)) from None
    if values.get("outputs_dir") is not None:
        kw["outputs_dir"] = os.path.abspath(os.path.expanduser(os.fspath(values["outputs_dir"])))
    return RunOptions(**kw)


def profile_options(profile: Any) -> RunOptions:
    """A profile's defaults as :class:`RunOptions`."""
    return RunOptions(
        workdir=profile.workdir or None,
        env=dict(profile.env),
        environment=profile.environment,
        result_limit=limit_bytes(getattr(profile, "result_limit", DEFAULT_RESULT_LIMIT)),
    )
