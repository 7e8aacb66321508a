"""The job ledger as users see it: ``cl.jobs()``, ``cl.job(id)``, ``cl.jobs.gc()``."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict

from .common.errors import ClusterlabError
from .common.states import TERMINAL, JobState
from .config.profile import Profile
from .core.ledger import store as ledger
from .core.ledger.reattach import reconcile
from .core.ledger.store import JobRecord
from .core.model.alive import live as live_objects
from .core.model.array import ArrayJob
from .core.model.job import Job
from .core.model.remoteresult import REMOTE_REASON
from .core.runtime import get_runtime, remove_dirs
from .core.submission import plans

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*\Z")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str | float) -> float:
    """'30d', '12h', '90m', '45s' or seconds."""
    if isinstance(text, int | float):
        return float(text)
    m = _AGE_RE.match(text)
    if not m:
        raise ValueError(f"older_than={text!r}: use e.g. '30d', '12h' or '90m'")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


class Jobs:
    """``cl.jobs(profile=None, state=None)`` lists every job submitted from this machine."""

    def __call__(
        self, profile: str | None = None, state: str | list[str] | None = None
    ) -> list[JobRecord]:
        """Ledger rows, newest first (jobs and arrays; array items are inside arrays).

        Rows left SUBMITTING by a process that died are settled first (see
        ``clusterlab.core.ledger.reattach.reconcile``)."""
        stale = ledger.query(profile=profile, state=JobState.SUBMITTING.value)
        for rec in stale:
            try:
                reconcile(get_runtime(Profile.from_dict(json.loads(rec.profile_json))), rec)
            except ClusterlabError as exc:  # unreachable now: the row stays, saying why
                ledger.update_jobs(
                    [(rec.state, f"being submitted? {exc}", None, None, "{}", rec.id)]
                )
        return ledger.query(profile=profile, state=state)

    def gc(self, older_than: str | float = "30d", profile: str | None = None) -> list[str]:
        """Delete the cluster files of jobs that ended more than ``older_than`` ago.

        Only finished jobs are touched; the ledger keeps their rows (marked cleaned).
        A job whose result stayed on the cluster (a :class:`~clusterlab.RemoteResult` not fetched
        yet) is kept whatever its age: its result exists nowhere else; ``job.cleanup()``
        removes it. Returns the ids whose files were removed.
        """
        cutoff = time.time() - parse_age(older_than)
        groups: dict[str, list[JobRecord]] = defaultdict(list)
        for rec in ledger.query(profile=profile, state=[s.value for s in TERMINAL]):
            if rec.reason.startswith(REMOTE_REASON):
                continue
            if not rec.cleaned and rec.ended is not None and rec.ended < cutoff:
                groups[rec.profile_json].append(rec)
        cleaned = []
        for profile_json, recs in groups.items():
            runtime = get_runtime(Profile.from_dict(json.loads(profile_json)))
            dirs = []
            for rec in recs:
                parts = rec.spec.get("parts") if rec.kind == "array" else None
                dirs += [p["job_dir"] for p in parts] if parts else [rec.job_dir]
            remove_dirs(runtime, dirs)
            runtime.backend.remove_spent(runtime.jobs_root())
            for rec in recs:
                ledger.mark_cleaned(rec.id)
                plans.drop(rec.id)  # what a rerun would have needed, if nobody saw its end
                cleaned.append(rec.id)
        return cleaned


jobs = Jobs()


def job(job_id: str) -> Job | ArrayJob:
    """Reattach to a job or array by id (also in a new kernel); ``"ARRAY:i"`` is one item."""
    live = live_objects.get(job_id)
    if live is not None:
        return live
    base, sep, index = job_id.partition(":")
    if sep:
        array = job(base)
        if not isinstance(array, ArrayJob):
            raise ClusterlabError(f"{base} is a single job, not an array")
        if not (index.isascii() and index.isdigit() and int(index) < len(array)):
            raise ClusterlabError(
                f"{job_id!r}: {base} has no item {index!r}; its items are numbered 0 to "
                f"{len(array) - 1}, e.g. '{base}:0'"
            )
        return array[int(index)]
    rec = ledger.get(job_id)
    if rec is None:
        raise ClusterlabError(
            f"no job {job_id!r} in the ledger ({ledger.path()}); cl.jobs() lists known jobs"
        )
    runtime = get_runtime(Profile.from_dict(json.loads(rec.profile_json)))
    rec = reconcile(runtime, rec)
    if rec.state == JobState.SUBMITTING.value:
        raise ClusterlabError(
            f"{job_id} is still being submitted by another process on this machine; ask again "
            "in a moment"
        )
    return runtime.reattach(rec)
