"""What Grid Engine's accounting (``qacct -j``) recorded about finished jobs: wall-clock
and CPU time, peak memory, the slots and limits it was given, and how it ended.

Like SLURM's ``sacct`` it outlives the job dir and is the only source of usage for a job
killed at its ``h_rt`` or ``h_vmem`` limit (its runner never wrote its end). One command
for any number of jobs (``qacct -j`` takes one id, so a loop in one shell).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..common.efficiency import Accounted
from ..common.errors import ClusterlabError
from ..common.states import Cause
from ..common.usage import Usage
from .base import IDS_PER_COMMAND
from .sge_output import ended

_ID_RE = re.compile(r"^\d+(\.\d+)?$")
_QACCT = 'for j do qacct -j "$j" || echo "clusterlab: no record of $j" >&2; done; exit 0'
_AMOUNT_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGTP]?)B?", re.I)
_SCALE = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_CAUSES = {"h_rt": Cause.TIME_LIMIT, "h_vmem": Cause.OUT_OF_MEMORY}


def usage(backend: Any, native_ids: Sequence[str]) -> dict[str, Accounted]:
    """``native id -> Accounted`` for the given jobs or array tasks (``123.4``) that
    accounting knows; raises ClusterlabError with qacct's words when it cannot be asked."""
    ids = [n for n in native_ids if _ID_RE.match(n)][:IDS_PER_COMMAND]
    if not ids:
        return {}
    jobs = sorted({n.split(".")[0] for n in ids})
    res = backend.transport.run(backend.scheduler_argv(["sh", "-c", _QACCT, "sh", *jobs]))
    if res.returncode != 0:
        said = (res.err.strip() or res.out.strip() or f"exit {res.returncode}").splitlines()[0]
        raise ClusterlabError(f"Grid Engine's accounting cannot be asked: qacct says {said!r}")
    found = parse(res.out)
    return {n: found[n] for n in ids if n in found}


def parse(text: str) -> dict[str, Accounted]:
    """Each ``qacct -j`` record (blocks between lines of '=') by ``job`` or ``job.task``."""
    out: dict[str, Accounted] = {}
    for block in re.split(r"^={10,}\s*$", text, flags=re.M):
        rec: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            rec[key] = value.strip()
        if not rec.get("jobnumber", "").isdigit():
            continue
        task = rec.get("taskid", "")
        key = f"{rec['jobnumber']}.{task}" if task.isdigit() else rec["jobnumber"]
        out[key] = _accounted(rec)
    return out


def _accounted(rec: Mapping[str, str]) -> Accounted:
    # ru_maxrss is the kernel's figure in KiB, which qacct prints as an amount ("20.445KB")
    rss_kib = _amount(rec.get("ru_maxrss", ""))
    peak = max(int((rss_kib or 0) * 1024), int(_amount(rec.get("maxvmem", "")) or 0))
    slots = rec.get("slots", "").split()
    cores = int(slots[0]) if slots and slots[0].isdigit() else None
    asked = rec.get("category", "")
    vmem = re.search(r"h_vmem=([^,\s]+)", asked)
    per_slot = _amount(vmem.group(1)) if vmem else None
    memory_mb = round(per_slot * (cores or 1) / 1024**2) if per_slot else None
    limit = re.search(r"h_rt=([\d:]+)", asked)
    word, why = ended(rec)
    return Accounted(
        usage=Usage(_seconds(rec.get("ru_wallclock", "")), _seconds(rec.get("cpu", "")), peak),
        memory_mb=memory_mb or None,
        cores=cores,
        time_s=_hms(limit.group(1)) if limit else None,
        state=f"{word} ({why})" if why else word,
        final=True,  # qacct lists only jobs that ended
        cause=_CAUSES.get(why),
        peak_known=peak > 0,
    )


def _amount(text: str) -> float | None:
    """``20.445KB``, ``612M``, ``1.5G``, ``0.000B`` as a number of bytes (powers of 1024)."""
    m = _AMOUNT_RE.match(text.strip())
    return float(m.group(1)) * _SCALE[m.group(2).upper()] if m else None


def _seconds(text: str) -> float:
    """``12s`` or ``0.435s`` (qacct's times); 0 when it printed none."""
    m = re.match(r"^(\d+(?:\.\d+)?)", text.strip())
    return float(m.group(1)) if m else 0.0


def _hms(text: str) -> int | None:
    """h_rt as qsub was given it: seconds, or ``H:MM:SS``."""
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds or None
