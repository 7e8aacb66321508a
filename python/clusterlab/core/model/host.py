"""What a Job and an ArrayJob need from the engine that runs them (engine-only).

The job objects users hold live in :mod:`clusterlab.core.model`; the machinery that
submits, watches and collects them lives above it and is wired per profile by
:class:`clusterlab.core.runtime.Runtime`. A job reaches that machinery only through this
small protocol, which the runtime implements, so the model imports nothing of the rooms
above it (no import cycle, and a test can host jobs with a stub).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ...backends.base import WatchTarget
    from ...common.efficiency import Accounted
    from ...config.profile import Profile
    from ...transports.base import Transport
    from .array import ArrayJob
    from .job import Job


class JobHost(Protocol):
    """The services a job asks of its runtime: its profile and files, the ledger, cancel,
    clean up, rerun and follow output."""

    @property
    def profile(self) -> Profile:
        """The profile the job was submitted with."""
        ...

    @property
    def transport(self) -> Transport:
        """Where the job's files are read from."""
        ...

    @property
    def arrays(self) -> Mapping[str, ArrayJob]:
        """The arrays of this host, by id (an item finds its pool's workers)."""
        ...

    def mark_dirty(self, job: Job) -> None:
        """The job changed: write its ledger row at the next flush."""
        ...

    def cancel(self, jobs: Sequence[Job], targets: Sequence[WatchTarget] = ()) -> None:
        """Cancel the scheduler jobs of ``jobs`` (``targets``: whole array parts)."""
        ...

    def cleanup(self, target: Job | ArrayJob) -> None:
        """Delete the job dirs of a finished job or array on the cluster."""
        ...

    def read_log(self, job: Job, name: str) -> str:
        """A file of the job dir as text ('' when it does not exist yet)."""
        ...

    def accounted(self, native_ids: Sequence[str]) -> Mapping[str, Accounted]:
        """What the scheduler's accounting recorded about these finished jobs (raises
        ClusterlabError with the reason when it keeps none or cannot be asked)."""
        ...

    def task_id(self, native_id: str, task: int) -> str:
        """The scheduler's id of ``task`` of the array ``native_id``."""
        ...

    def rerun(self, array: ArrayJob, indices: Sequence[int]) -> None:
        """Resubmit items ``indices`` of ``array`` as a new native array."""
        ...

    def follow_output(
        self, job: Job, streams: tuple[str, ...] = ("stdout", "stderr")
    ) -> Iterator[tuple[str, str]]:
        """``(stream, text)`` as the job writes it, until it ended."""
        ...
