"""How many times a job may run: requeue on preemption and time-limit warnings, reruns
after failures outside the function, and retries of the function's own transient errors.

``requeue=True`` (``max_requeues``, default 3; ``on_signal``: a callable the runner calls
when warned or preempted, to save one more checkpoint) lets a job run again from its last
``cl.checkpoint`` when the scheduler preempts it or its time limit nears. ``retries=N``
(default 0) reruns a job that failed for reasons outside the function (its node failed,
it was lost or killed by a signal nobody sent on purpose) and, with ``retry_on=(OSError,
...)``, when the function raised one of those exception types; the waits between reruns
double from ``retry_backoff`` seconds. Checked here, at the call, so a typo fails at once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

ATTEMPT_OPTIONS = ("requeue", "max_requeues", "on_signal", "retries", "retry_on", "retry_backoff")
DEFAULT_MAX_REQUEUES = 3
DEFAULT_GRACE_S = 60
"""Seconds before the time limit at which a requeue job is warned (SLURM sends its
signal up to 60 s early: a smaller grace could come too late to save anything)."""
MAX_BACKOFF_S = 300.0


@dataclass(frozen=True)
class AttemptPolicy:
    """A call's requeue and retry settings; the default runs a job once."""

    requeue: bool = False
    max_requeues: int = DEFAULT_MAX_REQUEUES
    on_signal: Callable[[], Any] | None = None
    retries: int = 0
    retry_on: tuple[type[BaseException], ...] = ()
    retry_backoff: float = 1.0
    grace_s: int = DEFAULT_GRACE_S

    @property
    def active(self) -> bool:
        """Whether the runner needs to know (a default policy ships nothing)."""
        return self != AttemptPolicy()

    @property
    def max_attempts(self) -> int:
        """Runs at most: the first, each requeue and each rerun ("attempt 2 of 4")."""
        return 1 + (self.max_requeues if self.requeue else 0) + self.retries

    def delay(self, rerun: int) -> float:
        """Seconds to wait before rerun number ``rerun`` (1, 2, ...): doubling, capped."""
        return float(min(MAX_BACKOFF_S, self.retry_backoff * 2 ** max(0, rerun - 1)))

    def merged(self, other: AttemptPolicy) -> AttemptPolicy:
        """``other``'s settings where it sets any, else these."""
        return other if other.active else self

    def for_runner(self) -> dict[str, Any]:
        """What the runner reads (pickled by value into the job dir)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def attempt_text(attempts: int, most: int) -> str:
    """'attempt 2 of 4' for a job that ran or may run more than once, else ''."""
    if most <= 1 and attempts <= 1:
        return ""
    return f"attempt {max(1, attempts)} of {max(most, attempts)}"


def history_of(text: str | None) -> dict[str, Any]:
    """A ledger's history cell (JSON ``{"max", "runs"}``); {} when empty or unreadable."""
    with contextlib.suppress(ValueError):
        value = json.loads(text) if text else {}
        return value if isinstance(value, dict) else {}
    return {}


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{name}= takes a whole number of 0 or more, e.g. {name}=3 (got {value!r:.40})"
        )
    return value


def _exception_types(value: Any) -> tuple[type[BaseException], ...]:
    items = value if isinstance(value, tuple | list) else (value,)
    out = []
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ValueError(
                f"retry_on= takes exception classes, e.g. retry_on=(OSError, TimeoutError) "
                f"(got {item!r:.40})"
            )
        out.append(item)
    return tuple(out)


def parse_attempts(values: Mapping[str, Any]) -> AttemptPolicy:
    """A checked :class:`AttemptPolicy` from keyword arguments (only
    :data:`ATTEMPT_OPTIONS`); ValueError with what to write instead."""
    kw: dict[str, Any] = {}
    if values.get("requeue") is not None:
        if not isinstance(values["requeue"], bool):
            raise ValueError("requeue= takes True or False")
        kw["requeue"] = values["requeue"]
    if values.get("max_requeues") is not None:
        kw["max_requeues"] = _count("max_requeues", values["max_requeues"])
    if values.get("retries") is not None:
        kw["retries"] = _count("retries", values["retries"])
    if values.get("retry_on") is not None:
        kw["retry_on"] = _exception_types(values["retry_on"])
    if values.get("retry_backoff") is not None:
        backoff = values["retry_backoff"]
        if isinstance(backoff, bool) or not isinstance(backoff, int | float) or backoff < 0:
            raise ValueError("retry_backoff= takes seconds (0 or more), e.g. retry_backoff=5")
        kw["retry_backoff"] = float(backoff)
    if values.get("on_signal") is not None:
        if not callable(values["on_signal"]):
            raise ValueError(
                "on_signal= takes a function of no arguments (it may save a checkpoint)"
            )
        kw["on_signal"] = values["on_signal"]
    policy = AttemptPolicy(**kw)
    if policy.retry_on and not policy.retries:
        raise ValueError(
            "retry_on= says which errors to rerun for, retries= how many times: add "
            "retries=N, e.g. retries=3"
        )
    if policy.on_signal is not None and not policy.requeue:
        raise ValueError("on_signal= is called when a requeue job is warned: add requeue=True")
    return policy
