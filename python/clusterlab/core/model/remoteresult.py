"""A result left on the cluster: what ``job.result()`` returns when the result file is
larger than the job's ``result_limit`` (config/resultlimit.py).

Downloading a 2 GB value the moment a job ends would fill the kernel's memory and the link
whether or not anyone wants it here; the handle says how large it is and where it lies,
and :meth:`RemoteResult.fetch` brings it over when asked: in chunks, with the progress in
the job's reason (the panel, the monitor and ``job.reason`` show it), checked against the
sha256 its runner recorded before it is unpickled.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ...common.errors import ClusterlabError
from ...config.resultlimit import size_text
from ..transfer.payload import load_result

if TYPE_CHECKING:
    from .job import Job

CHUNK = 32 * 1024 * 1024  # bytes per round trip of a fetch: progress every chunk
REMOTE_REASON = "its result stays on the cluster"
"""How the reason of a job whose result was left on the cluster begins: ``cl.jobs.gc()``
keeps such a job's directory (the ledger row says so to every process)."""


class RemoteResult:
    """A job's result that stayed on the cluster because it is larger than the job's
    ``result_limit`` (a profile field, or ``f.options(result_limit="10GB")``).

    ``.size`` (bytes), ``.path`` (the result file on the cluster), ``.job_id``, and
    ``.fetch()``, which downloads it, checks it and returns the value (or raises the
    job's exception). The file stays where it is until ``job.cleanup()``.
    """

    def __init__(self, job: Job, size: int, digest: str) -> None:
        self._job = job
        self.job_id = job.id
        self.path = job.result_path
        self.size = size
        self.sha256 = digest

    def fetch(self) -> Any:
        """Download the result (``CHUNK`` bytes per round trip, the progress in the job's
        reason), refuse it unless it matches the sha256 its runner recorded, and return
        the value. Each call downloads it again: the handle never holds the value."""
        job, transport = self._job, self._job.engine.transport
        data = bytearray()
        hasher = hashlib.sha256()
        total = self.size
        while len(data) < total:
            got = transport.read_ranges(
                [(self.path, len(data), min(len(data) + CHUNK, total))], limit=None
            )[0]
            if got is None:
                raise ClusterlabError(
                    f"the result of job {self.job_id} is no longer at {self.path} (cleaned "
                    "up?): run the job again to get it"
                )
            now, chunk = got
            if now != total or not chunk:
                raise ClusterlabError(
                    f"the result of job {self.job_id} at {self.path} is {now} bytes now, not "
                    f"the {total} its runner wrote (changed or truncated on the cluster), so "
                    "it was not loaded: run the job again"
                )
            data += chunk
            hasher.update(chunk)
            if len(data) < total:
                done = f"{size_text(len(data))} of {size_text(total)}"
                job.set_state(
                    job.state, f"fetching its result: {done} ({100 * len(data) // total}%)"
                )
        if self.sha256 and hasher.hexdigest() != self.sha256:
            raise ClusterlabError(
                f"the result of job {self.job_id} at {self.path} does not match the checksum "
                "its runner recorded (truncated, corrupted or replaced), so it was not "
                "loaded: run the job again"
            )
        job.set_state(
            job.state, f"its result ({size_text(total)}) was fetched; it is still at {self.path}"
        )
        ok, value = load_result(data)  # unpickled in place: no second copy of 2 GB
        del data
        if not ok:
            raise value
        return value

    def __repr__(self) -> str:
        return (
            f"<RemoteResult of job {self.job_id}: {size_text(self.size)} at {self.path}; "
            ".fetch() downloads it>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        return (
            f"<code>RemoteResult</code> of job <code>{escape(self.job_id)}</code>: "
            f"{escape(size_text(self.size))} on the cluster at <code>{escape(self.path)}</code>"
            "; <code>.fetch()</code> downloads it"
        )

    def __reduce__(self) -> Any:
        raise ClusterlabError(
            f"a RemoteResult (job {self.job_id}) cannot be sent to another job: pass the "
            "job itself (its result is read on the cluster, not downloaded), or .fetch() it"
        )
