"""What a poll (or a pushed status line) learnt about a job: the scheduler's view and the
runner's status file, joined per array task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..common.states import Cause, JobState


@dataclass
class Observation:
    """What one poll learnt about a job (or an array task)."""

    state: JobState | None  # None: the scheduler no longer (or not yet) lists it
    reason: str = ""
    raw: str = ""  # the scheduler's own code, for logs and the ledger
    status: bytes | None = None  # contents of its status file, if any
    tasks: dict[int, Observation] = field(default_factory=dict)  # arrays: per task
    cause: Cause | None = None  # why it ended or never will start, in neutral terms
    dir_missing: bool = False  # its job directory is gone (deleted, cleaned up)
    result: bytes | None = None  # its result file, when the poll carried it (statusdump)
    log_sizes: dict[str, int] | None = None  # its logs' sizes at its end (status agent)

    def unlisted_task(self) -> Observation:
        """How a task of this array that the scheduler does not list is seen."""
        return Observation(self.state, self.reason, cause=self.cause, dir_missing=self.dir_missing)


def task_observations(
    statuses: Mapping[str, bytes], tasks: Mapping[int, Observation]
) -> dict[int, Observation]:
    """Join scheduler task states with ``status.N`` files (either may be missing)."""
    out = dict(tasks)
    for fname, data in statuses.items():
        prefix, _, index = fname.partition(".")
        if prefix == "status" and index.isdigit():
            obs = out.setdefault(int(index), Observation(None))
            obs.status = data
    return out
