"""Job states shared by every scheduler; backends map their own codes onto these."""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    """Where a job is in its life. A ``str``, so it compares with plain strings."""

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
