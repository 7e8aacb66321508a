"""What Grid Engine's commands print, read: ``qstat -xml -r`` (every job and task of the
user), ``qacct -j`` (how a finished job ended), qsub's refusals, and the maps from its states
and endings to clusterlab's states, causes and sentences (used by :mod:`.sge`).

Samples captured from a real Grid Engine 8.1.9 are in ``tests/unit/sge_samples/``.
"""

from __future__ import annotations

import re
import signal
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from ..common.errors import TransportError
from ..common.states import Cause, JobState

_RANGE_RE = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?\Z")

# qstat's state letters, reduced by state(); qacct's endings made by ended()
STATE_MAP: dict[str, JobState] = {
    "qw": JobState.PENDING,
    "h": JobState.PENDING,
    "E": JobState.PENDING,  # error state: it waits for someone to clear or delete it
    "s": JobState.PENDING,  # suspended, as SLURM's SUSPENDED
    "r": JobState.RUNNING,
    "d": JobState.CANCELLED,  # being deleted
    "done": JobState.COMPLETED,  # the status file decides how it ended
    "exited": JobState.FAILED,
    "failed": JobState.FAILED,
    "deleted": JobState.CANCELLED,
}

CAUSE_MAP: dict[str, Cause] = {
    "h_rt": Cause.TIME_LIMIT,
    "h_vmem": Cause.OUT_OF_MEMORY,
    "deleted": Cause.CANCELLED,
    "d": Cause.CANCELLED,
}

REASON_MAP: dict[str, str] = {
    "queued": "queued: waiting for a free slot",
    "dependency": "waiting for the jobs it depends on",
    "throttle": "waiting under the array's concurrency limit (%N): qsub -tc runs at most "
    "max_concurrent of its tasks at once",
    "hold": "held: release it with `qrls JOBID`",
    "error": "Grid Engine could not start it and put it in error state: `qstat -j JOBID` "
    "says why, `qmod -cj JOBID` tries again, `qdel JOBID` removes it",
    "suspended": "suspended by Grid Engine or an administrator",
    "qdel": "deleted (qdel) by you or an administrator",
    "h_rt": "killed after reaching its time limit (h_rt)",
    "h_vmem": "killed for using more memory (address space, h_vmem) than it asked for: ask "
    "for more with memory=...",
    "h_cpu": "killed for using more CPU time than its h_cpu limit",
    "dependency failed": "dependency failed: a job it depends on did not succeed",
}

SUBMIT_ERRORS: list[tuple[str, str]] = [
    (
        "parallel environment",
        "the parallel environment does not exist: set the profile's sge_pe to one that "
        "`qconf -spl` lists (it gives cores=N as -pe NAME N)",
    ),
    ("unknown queue", "the queue does not exist: `qconf -sql` lists the queues"),
    ("unknown resource", "the cluster does not know a resource of the request (qconf -sc)"),
    (
        "no suitable queues",
        "no queue can run it as requested (too many cores, too much memory or time, or a "
        "queue you may not use): ask for less or choose another queue",
    ),
    ("not allowed to submit", "you may not submit jobs from this host: ask your admins"),
    ("has no permission", "you may not use this queue, project or parallel environment"),
    ("job with more than", "the map has more tasks than max_aj_tasks allows: use chunksize="),
]


def state(letters: str) -> str:
    """qstat's state letters (``qw``, ``hqw``, ``Eqw``, ``dr``, ``Rr``, ``s``...) as one code."""
    for code, marks in (("E", "E"), ("d", "d"), ("s", "sST"), ("r", "rt"), ("h", "h")):
        if any(m in letters for m in marks):
            return code
    return "qw"


def tasks(text: str) -> list[int]:
    """``3``, ``3,4``, ``4-40:1``, ``1-9:2,12`` as task numbers."""
    out: list[int] = []
    for part in text.split(","):
        m = _RANGE_RE.match(part.strip())
        if m:
            first, last, step = int(m.group(1)), m.group(2), m.group(3)
            out.extend(range(first, int(last or first) + 1, int(step or 1)))
    return out


def ended(rec: Mapping[str, str]) -> tuple[str, str]:
    """How a job ended, from its ``qacct -j`` record."""
    failed_text = rec.get("failed", "0")
    first = failed_text.split()[0] if failed_text.split() else "0"
    failed = int(first) if first.isdigit() else 0
    exit_text = rec.get("exit_status", "0").split()
    code = int(exit_text[0]) if exit_text and exit_text[0].lstrip("-").isdigit() else 0
    if failed == 0:
        return ("done", "") if code == 0 else ("exited", f"exit {code}")
    if failed == 100:
        return "deleted", "qdel"
    if failed == 37:  # "qmaster enforced h_rt, h_cpu, or h_vmem limit": which one?
        asked = rec.get("category", "")
        limit = re.search(r"h_rt=(\d+)", asked)
        wall = re.match(r"\d+", rec.get("ru_wallclock", ""))
        if limit and wall and int(wall.group()) >= int(limit.group(1)) - 1:
            return "failed", "h_rt"
        return "failed", next((r for r in ("h_vmem", "h_cpu", "h_rt") if f"{r}=" in asked), "h_rt")
    return "failed", f"failed {failed_text.strip()}"


def parse_qacct(text: str) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for block in re.split(r"^={10,}\s*$", text, flags=re.M):
        rec = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            rec[key] = value.strip()
        if rec.get("jobnumber", "").isdigit():
            task = rec.get("taskid", "")
            key = f"{rec['jobnumber']}.{task}" if task.isdigit() else rec["jobnumber"]
            out[key] = ended(rec)
    return out


def parse_qstat(text: str, throttles: Mapping[str, int]) -> dict[str, tuple[str, str]]:
    """``qstat -xml -r``: ``id (or id.task) -> (state code, reason code)``. A running task
    is its own ``job_list``; pending ones share one with a range (``4-40:1``). Pending tasks
    of an array submitted with ``-tc N`` (``throttles``) that runs N wait for the limit."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # qstat never writes them
        raise TransportError("qstat -xml printed a document type declaration; refused")
    try:
        root = ET.fromstring(text)  # noqa: S314 - qstat's own output, no DTD (checked above)
    except ET.ParseError as exc:
        raise TransportError(f"qstat -xml printed something that is not XML ({exc})") from None
    out: dict[str, tuple[str, str]] = {}
    running: dict[str, int] = {}
    for job in root.iter("job_list"):
        number, code = job.findtext("JB_job_number", ""), state(job.findtext("state", ""))
        reason = {"h": "hold", "E": "error", "qw": "queued", "s": "suspended"}.get(code, "")
        if code == "h" and job.findtext("predecessor_jobs"):
            reason = "dependency"  # predecessors not yet ended: -hold_jid
        numbers = tasks(job.findtext("tasks", ""))
        if code == "r":
            running[number] = running.get(number, 0) + len(numbers)
        for key in [f"{number}.{t}" for t in numbers] or [number]:
            out[key] = (code, reason)
    for native, (code, reason) in list(out.items()):
        array = native.partition(".")[0]
        limit = throttles.get(array)
        if reason == "queued" and limit and running.get(array, 0) >= limit:
            out[native] = (code, "throttle")
    return out


def sentence(reason_code: str) -> str:
    """A reason code of :func:`parse_qstat` or :func:`ended` as a sentence."""
    if not reason_code or reason_code in REASON_MAP:
        return REASON_MAP.get(reason_code, "")
    kind, _, rest = reason_code.partition(" ")
    if kind == "exit" and rest.isdigit():
        code = int(rest)
        if code > 128:
            try:
                name = f" ({signal.Signals(code - 128).name})"
            except ValueError:
                name = ""
            return f"its job script was killed by signal {code - 128}{name}"
        return f"its job script exited with status {code} (see job.stderr())"
    if kind == "failed":
        return f"Grid Engine could not run it (failed {rest}): `qacct -j JOBID` shows more"
    return f"Grid Engine says: {reason_code}"


def explain_submit_error(stderr: str) -> str:
    """qsub's refusal as a sentence saying what to change."""
    said = [ln.strip() for ln in stderr.splitlines() if ln.strip() and ln.strip() != "Exiting."]
    for needle, why in SUBMIT_ERRORS:
        if needle.lower() in stderr.lower():
            return f"{why} (qsub: {said[-1]})"
    return " ".join(said) or "qsub failed without a message"
