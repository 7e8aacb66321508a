"""A finished job's efficiency from the scheduler's accounting when its runner measured
nothing (a job killed for memory or time never writes its end), else from the runner's own
usage: one judge (``common.efficiency``) for both, so the panel, the CLI and the API agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...common.efficiency import Efficiency, judge
from ...common.errors import ClusterlabError
from ...common.usage import Usage

if TYPE_CHECKING:
    from .job import Job


def efficiency_of(job: Job, usage: Usage | None, source: str = "") -> Efficiency:
    """See :meth:`Job.efficiency`; ``usage`` is what its runner reported, if anything."""
    r = job.resources
    if usage is not None and source != "accounting":
        return judge(usage, r.memory_mb, r.time_s, r.cores)
    if not job.done():
        return Efficiency(advice=f"job {job.id} has not finished: ask again when it has")
    engine = job.engine
    native = engine.task_id(job.native_id, job.task) if job.array_id else job.native_id
    try:
        found = engine.accounted([native]).get(native) if native else None
    except ClusterlabError as exc:
        runner = "its runner wrote none and " if usage is None else ""
        return Efficiency(advice=f"no usage known: {runner}{exc}")
    if found is None:
        return Efficiency(advice="no usage known: neither its runner nor accounting has any")
    if not found.final:
        return Efficiency(  # slurmctld tells slurmdbd a moment after the job ended
            advice=f"accounting has not recorded its end yet (it says {found.state}): "
            "ask again in a few seconds"
        )
    return judge(
        found.usage,
        (r.memory_mb or found.memory_mb) if found.peak_known else None,
        r.time_s or found.time_s,
        r.cores or found.cores,
        source="accounting",
        ended=found.cause.value if found.cause else "",
    )
