"""How well a job's request fitted what it used: ``job.efficiency()``, the usage hint of
the panel row, the job card and ``clusterlab status``, and ``job.suggested_resources()``.

This is the one place that judges a request (the hint sentence every view shows is
:attr:`Efficiency.advice`), because resources asked for and not used are what keeps jobs
waiting in the queue: a request far above what was used should shrink, one close to its
limit should grow before the job is killed for it. Inputs are plain numbers (the runner's
:class:`~.usage.Usage`, or the scheduler's accounting for a job whose runner never wrote
its end: killed for memory or time), so every view and source gets the same sentence.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .states import Cause
from .usage import GB, MB, ArrayUsage, Usage, memory_text, seconds_text


@dataclass(frozen=True)
class Efficiency:
    """Used over asked, each 0..1 (None when unknown or not asked): ``cpu`` (CPU seconds
    over elapsed x cores), ``memory`` (peak over the request), ``time`` (elapsed over
    the limit), ``gpu`` (the mean utilisation of its GPUs as the runner sampled them with
    ``nvidia-smi``; None without GPUs or nvidia-smi). For an array, the largest item's
    (``cpu``, ``memory`` and ``gpu``), with the median item's in ``median``.
    ``advice`` says what to ask for next time ('' when the request fitted); ``source``
    is where the numbers come from ("runner", "accounting"), ``suggested`` the resources to
    pass to ``.options()`` next time."""

    cpu: float | None = None
    memory: float | None = None
    time: float | None = None
    gpu: float | None = None
    advice: str = ""
    source: str = ""
    peak_memory: int | None = None  # bytes
    elapsed: float | None = None
    items: int = 1
    median: dict[str, float | None] = field(default_factory=dict)
    suggested: dict[str, Any] = field(default_factory=dict)
    ended: str = ""  # a neutral Cause value when it was killed: "out_of_memory", "time_limit"

    def __str__(self) -> str:
        parts = [f"{name} {value:.0%}" for name, value in self._ratios() if value is not None]
        head = ", ".join(parts) or "nothing measured"
        return f"{head} ({self.source or 'no source'})" + (
            f": {self.advice}" if self.advice else ""
        )

    def _ratios(self) -> list[tuple[str, float | None]]:
        return [("cpu", self.cpu), ("memory", self.memory), ("time", self.time), ("gpu", self.gpu)]


@dataclass(frozen=True)
class Accounted:
    """What the scheduler's accounting recorded for one job or array task: its usage,
    what it was given (memory in MiB, cores, the time limit in seconds; None: unknown)
    whether the accounting has its end yet (``final``), how it ended when the scheduler
    killed it (a neutral :class:`~.states.Cause`) and the scheduler's own word for it."""

    usage: Usage
    memory_mb: int | None = None
    cores: int | None = None
    time_s: int | None = None
    state: str = ""  # the scheduler's word, shown to people as it says it
    final: bool = True  # False: accounting still shows it queued or running
    cause: Cause | None = None  # killed for memory or time: OUT_OF_MEMORY, TIME_LIMIT
    peak_known: bool = True  # False: no step sampled its memory (shorter than a sample)


def _ratio(used: float, asked: float | None) -> float | None:
    return None if not asked else min(1.0, max(0.0, used / asked))


def _busy(u: Usage) -> float | None:
    return u.cpu_time / u.elapsed if u.elapsed > 0 else None


def judge(
    used: Usage | ArrayUsage | Sequence[Usage] | None,
    memory_mb: int | None,
    time_s: int | None,
    cores: int | None,
    source: str = "runner",
    ended: str = "",
) -> Efficiency:
    """The efficiency of a request (``memory_mb``, ``time_s``, ``cores``: what was asked)
    given what was used: one :class:`Usage`, an array's items (max and median), or an
    :class:`ArrayUsage` summary (max and mean, from the ledger). For an array time is not
    judged: its limit holds for a whole task (a chunk of items run one after the other)."""
    items: list[Usage] = []
    if isinstance(used, Usage):
        items = [used]
    elif isinstance(used, ArrayUsage):
        items = [used.max, used.mean]
    elif used is not None:
        items = [u for u in used if u is not None]
    if not items:
        return Efficiency(source="", ended=ended, advice=_ended_advice(ended, None, memory_mb))
    array = not isinstance(used, Usage)
    peak = Usage(
        max(u.elapsed for u in items), max(u.cpu_time for u in items), max(u.max_rss for u in items)
    )
    if isinstance(used, ArrayUsage):
        typical, n = used.mean, used.items
    else:
        typical = Usage(
            statistics.median(u.elapsed for u in items),
            statistics.median(u.cpu_time for u in items),
            round(statistics.median(u.max_rss for u in items)),
        )
        n = len(items)
    ncores = cores or 1
    cpu_of = [_busy(u) for u in items]
    cpu_known = [c / ncores for c in cpu_of if c is not None]
    # a job killed for memory or time ran short: its time says nothing about the next one
    judged_time = None if array or ended in _KILLED else time_s
    hints, suggested = _advise(peak, typical, memory_mb, judged_time, cores)
    lead = _ended_advice(ended, peak, memory_mb)
    if ended == Cause.OUT_OF_MEMORY.value:
        hints = [h for h in hints if "requested memory" not in h]
        suggested["memory"] = f"{_more_memory_gb(memory_mb)}GB"
    elif ended == Cause.TIME_LIMIT.value and time_s:
        suggested["time"] = _minutes(2 * time_s)
    gpu_known = [u.gpu_utilization for u in items if u.gpus and u.gpu_utilization is not None]
    return Efficiency(
        cpu=min(1.0, max(cpu_known)) if cpu_known else None,
        gpu=max(gpu_known) if gpu_known else None,
        memory=_ratio(peak.max_rss, memory_mb * MB if memory_mb else None),
        time=None if array else _ratio(peak.elapsed, time_s),
        advice="; ".join([lead, *hints] if lead else hints),
        source=source,
        peak_memory=peak.max_rss,
        elapsed=peak.elapsed,
        items=n,
        median={
            "cpu": (lambda b: None if b is None else min(1.0, b / ncores))(_busy(typical)),
            "memory": _ratio(typical.max_rss, memory_mb * MB if memory_mb else None),
        }
        if array
        else {},
        suggested=suggested,
        ended=ended,
    )


_KILLED = (Cause.OUT_OF_MEMORY.value, Cause.TIME_LIMIT.value)


def _more_memory_gb(memory_mb: int | None) -> int:
    """Twice what a job killed for memory had (1 GB when unknown)."""
    return max(1, math.ceil(2 * (memory_mb or 512) / 1024))


def _ended_advice(ended: str, peak: Usage | None, memory_mb: int | None) -> str:
    if ended == Cause.OUT_OF_MEMORY.value:
        asked = f" of {memory_text(memory_mb * MB)}" if memory_mb else ""
        more = _more_memory_gb(memory_mb)
        return f"ran out of memory{asked}: ask for more, e.g. memory='{more}GB'"
    if ended == Cause.TIME_LIMIT.value:
        return "ran out of time: ask for a longer time (time=...) or save checkpoints"
    return ""


def _advise(
    peak: Usage, typical: Usage, memory_mb: int | None, time_s: int | None, cores: int | None
) -> tuple[list[str], dict[str, Any]]:
    """The hint sentences and the suggested resources (see :func:`judge`)."""
    hints: list[str] = []
    suggested: dict[str, Any] = {}
    if memory_mb:
        asked = memory_mb * MB
        of = f"used {memory_text(peak.max_rss)} of {memory_text(asked)} requested memory"
        if peak.max_rss > 0.9 * asked:
            hints.append(f"{of}: close to the limit, ask for more (memory=...)")
            suggested["memory"] = f"{max(1, math.ceil(1.5 * peak.max_rss / GB))}GB"
        elif peak.max_rss < 0.25 * asked and asked - peak.max_rss >= GB:
            enough = max(1, math.ceil(1.5 * peak.max_rss / GB))
            hints.append(f"{of}: memory='{enough}GB' would do and may start sooner")
            suggested["memory"] = f"{enough}GB"
    if time_s:
        of = f"ran {seconds_text(peak.elapsed)} of its {seconds_text(time_s)} time limit"
        if peak.elapsed > 0.9 * time_s:
            hints.append(f"{of}: close to the limit, ask for more (time=...)")
            suggested["time"] = _minutes(2 * peak.elapsed)
        elif peak.elapsed < 0.1 * time_s and time_s >= 3600:
            hints.append(f"{of}: a shorter limit may start sooner")
            suggested["time"] = _minutes(max(2 * peak.elapsed, 600))
    if cores and cores > 1 and typical.elapsed >= 10:
        busy = typical.cpu_time / typical.elapsed
        if busy < 0.5 * cores:
            hints.append(f"kept about {busy:.1f} of {cores} requested cores busy")
            suggested["cores"] = max(1, math.ceil(busy))
    return hints, suggested


def _minutes(seconds: float) -> str:
    """A time limit as H:MM:00, rounded up to whole minutes."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes // 60}:{minutes % 60:02d}:00"


def suggested(resources: Any, efficiency: Efficiency) -> dict[str, Any]:
    """``resources`` (a :class:`~clusterlab.config.resources.Resources`) as ``.options()``
    keywords (cores, memory, time), with ``efficiency``'s suggestions in their place."""
    if efficiency.source == "":
        return {}
    current = {k: v for k, v in resources.to_dict().items() if k in ("cores", "memory", "time")}
    return {**current, **efficiency.suggested}


def request_hint(
    used: Usage | ArrayUsage | None,
    memory_mb: int | None,
    time_s: int | None,
    cores: int | None,
) -> str:
    """A sentence when the request was far from what was used ('' when it fitted): the
    advice of :func:`judge`, which every view shows."""
    return judge(used, memory_mb, time_s, cores).advice


def waste(used: Usage | ArrayUsage | None, memory_mb: int | None, cores: int | None) -> float:
    """How much of what was explicitly asked for went unused, 0..1 (the larger of memory
    and cores), for ordering jobs "most wasted first"; -1 when nothing asked was measured
    (a running job, or one that asked for neither), so those sort last."""
    if used is None or not (memory_mb or cores):
        return -1.0
    found = judge(used, memory_mb, None, cores)
    unused = [
        1.0 - ratio
        for ratio, asked in ((found.memory, memory_mb), (found.cpu, cores))
        if asked and ratio is not None
    ]
    return max(unused) if unused else -1.0
