"""Job states shared by every scheduler; backends map their own codes onto these."""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    """Where a job is in its life. A ``str``, so it compares with plain strings."""

    SUBMITTING = "SUBMITTING"  # accepted by submit(), not yet by the scheduler
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    LOST = "LOST"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """True once the job can no longer change."""
        return self in TERMINAL


TERMINAL = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT, JobState.LOST}
)


class Cause(str, Enum):
    """Why a scheduler ended (or will never start) a job, in neutral terms.

    Each backend translates its scheduler's own state and reason codes into these (its
    ``CAUSE_MAP``), so the settle rules and the sentences users read are written once for
    every scheduler.
    """

    OUT_OF_MEMORY = "out_of_memory"
    TIME_LIMIT = "time_limit"
    DEPENDENCY_NEVER_SATISFIED = "dependency_never_satisfied"
    NODE_FAILURE = "node_failure"
    PREEMPTED = "preempted"
    EVICTED = "evicted"  # stopped by its node or a drain (Kubernetes), not by the job
    CANCELLED = "cancelled"  # by you, an administrator or the scheduler itself

    def __str__(self) -> str:
        return self.value
