"""What SLURM's accounting (``sacct``, with slurmdbd) recorded about finished jobs: elapsed
and CPU time, peak memory over the job's steps, what it was given and how it ended.

The only source of usage for a job killed for memory or time (its runner never wrote its
end), and one that outlives the job dir. One ``sacct`` for any number of jobs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..common.efficiency import Accounted
from ..common.errors import ClusterlabError
from ..common.states import Cause
from ..common.usage import Usage
from .base import IDS_PER_COMMAND

_NOT_ENDED = ("PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "COMPLETING")
_CAUSES = {"OUT_OF_MEMORY": Cause.OUT_OF_MEMORY, "TIMEOUT": Cause.TIME_LIMIT}
FORMAT = "JobID,State,Elapsed,TotalCPU,MaxRSS,ReqMem,AllocTRES,Timelimit"
_ID_RE = re.compile(r"^\d+(_\d+)?$")
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)")
_SIZE_MB = {"": 1 / 1024**2, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2, "P": 1024.0**3}


def usage(backend: Any, native_ids: Sequence[str]) -> dict[str, Accounted]:
    """``native id -> Accounted`` for the given jobs or array tasks (``123_4``) that
    accounting knows; raises ClusterlabError with sacct's words when it cannot be asked."""
    ids = [n for n in native_ids if _ID_RE.match(n)][:IDS_PER_COMMAND]
    if not ids:
        return {}
    argv = ["sacct", "-n", "-P", f"--jobs={','.join(ids)}", f"--format={FORMAT}"]
    res = backend.transport.run(argv)
    if res.returncode != 0:
        said = (res.err.strip() or res.out.strip() or f"exit {res.returncode}").splitlines()[0]
        raise ClusterlabError(f"SLURM's accounting cannot be asked: sacct says {said!r}")
    return parse(res.out)


def parse(text: str) -> dict[str, Accounted]:
    """The allocation row of each job (state, elapsed, CPU, request), with the peak
    memory of its steps (the batch step's MaxRSS is the job's)."""
    rows: dict[str, list[str]] = {}
    peak: dict[str, int] = {}
    for line in text.splitlines():
        cols = line.strip().split("|")
        if len(cols) < 8:
            continue
        job, _, step = cols[0].partition(".")
        rss = _bytes(cols[4])
        if rss is not None:
            peak[job] = max(peak.get(job, 0), rss)
        if not step:
            rows[job] = cols
    out: dict[str, Accounted] = {}
    for job, cols in rows.items():
        _, state, elapsed, total_cpu, _, req_mem, tres, limit = cols[:8]
        word = state.split()[0] if state else ""
        tres_map = dict(p.split("=", 1) for p in tres.split(",") if "=" in p)
        out[job] = Accounted(
            usage=Usage(_duration(elapsed) or 0.0, _duration(total_cpu) or 0.0, peak.get(job, 0)),
            memory_mb=_memory_mb(tres_map.get("mem", "")) or _memory_mb(req_mem),
            cores=int(tres_map["cpu"]) if tres_map.get("cpu", "").isdigit() else None,
            time_s=int(t) if (t := _duration(limit)) else None,
            state=word,
            final=word not in _NOT_ENDED,
            cause=_CAUSES.get(word),
            peak_known=job in peak,
        )
    return out


def _duration(text: str) -> float | None:
    """sacct's ``[D-]HH:MM:SS``, ``MM:SS.mmm`` (TotalCPU) or "UNLIMITED"."""
    text = text.strip()
    if not text or text in ("UNLIMITED", "Partition_Limit", "INVALID"):
        return None
    whole, _, fraction = text.partition(".")
    try:
        days, _, rest = whole.rpartition("-")
        parts = [int(p) for p in rest.split(":")]
        while len(parts) < 3:
            parts.insert(0, 0)
        h, m, s = parts[-3:]
        seconds = int(days or 0) * 86400 + h * 3600 + m * 60 + s
    except ValueError:
        return None
    return seconds + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)


def _bytes(text: str) -> int | None:
    m = _SIZE_RE.match(text.strip())
    return round(float(m.group(1)) * _SIZE_MB[m.group(2)] * 1024**2) if m else None


def _memory_mb(text: str) -> int | None:
    """``1000M``, ``16G``, ``4000Mc``/``4000Mn`` (older releases) in MiB."""
    m = _SIZE_RE.match(text.strip())
    if not m or not m.group(2):
        return None
    mb = round(float(m.group(1)) * _SIZE_MB[m.group(2)])
    return mb or None
