"""How long a notebook kernel's allocation has left, for the notebook's status bar.

The kernel's job is an ordinary ledger row named ``kernel-<first 8 of the kernel id>``
(the provisioner names it so): its start and its ``time`` resource say when the
scheduler ends it. Read from the ledger the shared watcher keeps fresh, so asking costs
no round trip to the cluster, however often a status bar asks.
"""

from __future__ import annotations

import time
from typing import Any

from ..common.states import JobState
from ..config.resources import parse_time
from ..core.ledger import store

WARN_BEFORE = 600  # seconds: the panel warns this long before the allocation ends
_ACTIVE = (JobState.SUBMITTING.value, JobState.PENDING.value, JobState.RUNNING.value)


def job_name(kernel_id: str) -> str:
    """The ledger name of a kernel's job (as the provisioner submits it)."""
    return f"kernel-{kernel_id[:8]}"


def left_text(seconds: float) -> str:
    """'1 h 20 min left', '9 min left', 'under a minute left'."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min left" if hours else f"{minutes} min left"


def remaining(kernel_id: str, now: float | None = None) -> dict[str, Any]:
    """``{"found": false}`` when no active job is this kernel's; else its ``job``,
    ``native_id``, ``state``, ``reason``, ``ends`` (seconds since the epoch, or null when
    not started or no time was asked), ``left`` (seconds, or null) and ``text``."""
    now = time.time() if now is None else now
    name = job_name(kernel_id)
    rows = [r for r in store.query(state=list(_ACTIVE)) if r.name == name and r.kind == "job"]
    if not rows:
        return {"found": False, "text": ""}
    rec = rows[0]  # newest first: a restart after the job ended submitted a new one
    limit = rec.resources.get("time")
    ends: float | None = None
    if rec.state == JobState.RUNNING.value and rec.started and limit:
        ends = rec.started + parse_time(limit)
    left = max(0.0, ends - now) if ends is not None else None
    if rec.state != JobState.RUNNING.value:
        text = f"kernel job {rec.state.lower()}" + (f": {rec.reason}" if rec.reason else "")
    elif left is None:
        text = "kernel job running, no time limit asked (the partition's applies)"
    else:
        text = left_text(left)
    return {
        "found": True,
        "job": rec.id,
        "native_id": rec.native_id,
        "state": rec.state,
        "reason": rec.reason,
        "ends": ends,
        "left": left,
        "text": text,
        "warn_before": WARN_BEFORE,
    }
