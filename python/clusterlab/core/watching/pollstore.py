"""What the machine-wide poller keeps in the ledger's SQLite, and how it spells it.

The tables (the lease, each watcher's heartbeat and targets, the shared observations), the
cluster key that says which watchers share, and Observations as JSON; the protocol that
uses them is :mod:`.sharedpoll`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from typing import Any

from ...backends.base import Backend, Observation
from ...backends.batch import BatchBackend
from ...common import kinds
from ...common.states import Cause, JobState
from ...config.profile import Profile
from ..ledger import store as ledger

SCHEMA = """
CREATE TABLE IF NOT EXISTS poll_leases (
    cluster TEXT PRIMARY KEY,        -- cluster_key(): what identifies the cluster, hashed
    holder TEXT NOT NULL,            -- the holding watcher's token
    pid INTEGER NOT NULL,
    expires REAL NOT NULL,           -- wall clock; renewed by every poll of the holder
    polled_at REAL NOT NULL DEFAULT 0, -- the holder's last published poll
    ttl REAL NOT NULL DEFAULT 0      -- the holder's lease lifetime (2 x its poll_interval + 1)
);
CREATE TABLE IF NOT EXISTS poll_watchers (
    cluster TEXT NOT NULL,
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires REAL NOT NULL,           -- its targets count while this is in the future
    PRIMARY KEY (cluster, token)
);
CREATE TABLE IF NOT EXISTS poll_targets (
    cluster TEXT NOT NULL,
    token TEXT NOT NULL,
    native_id TEXT NOT NULL,
    job_dir TEXT NOT NULL,
    is_array INTEGER NOT NULL,
    PRIMARY KEY (cluster, token, native_id)
);
CREATE TABLE IF NOT EXISTS poll_seen (
    cluster TEXT NOT NULL,
    native_id TEXT NOT NULL,
    observed REAL NOT NULL,          -- when the holder's poll last changed this row
    obs TEXT NOT NULL,               -- the Observation as JSON
    PRIMARY KEY (cluster, native_id)
);
"""

DISABLE_ENV = "CLUSTERLAB_SHARED_POLL"
"""Set to ``0`` to make every watcher poll on its own (benchmarks compare both)."""

_schema_ready = threading.local()


def cluster_key(profile: Profile) -> str:
    """What identifies a cluster for sharing: scheduler, where and as whom it is reached,
    where job dirs live and the setup/env that choose the scheduler instance (a
    ``SLURM_CONF`` or ``SGE_CELL``), hashed; never the profile's name, so two profiles
    of one cluster share one poller."""
    ident = [
        profile.scheduler,
        profile.host or "localhost",
        profile.port,
        profile.user,
        profile.remote_dir,
        list(profile.setup),
        sorted(profile.env.items()),
        *kinds.cluster_key_parts(profile),
    ]
    return hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()[:32]


def shareable(backend: Backend) -> bool:
    """Whether watchers of this backend can share polls (see the module docstring)."""
    return isinstance(backend, BatchBackend) and os.environ.get(DISABLE_ENV, "1") != "0"


def conn() -> sqlite3.Connection:
    conn = ledger.connect()
    if getattr(_schema_ready, "conn", None) is not conn:
        ledger.retry(lambda: conn.executescript(SCHEMA))
        _schema_ready.conn = conn
    conn.row_factory = None
    return conn


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


# -- observations as JSON ------------------------------------------------------------------
ROW_VERSION = 1
"""The version of the rows :func:`encode` writes (``"v"``; a row without one is version 1).
Raise it when a row changes in a way an older clusterlab would misread: kernels of
different versions share the ledger, and one that cannot read a row polls that job on its
own (:class:`Unreadable`) instead of failing its watcher's polls for ever."""


class Unreadable(ValueError):
    """A row this clusterlab cannot read (a newer version's, or damaged)."""


def encode(obs: Observation) -> dict[str, Any]:
    """An Observation as JSON-able data (status bytes as latin-1 text: lossless)."""
    out: dict[str, Any] = {"v": ROW_VERSION, "s": obs.state.value if obs.state else None}
    if obs.reason:
        out["r"] = obs.reason
    if obs.raw:
        out["w"] = obs.raw
    if obs.status is not None:
        out["b"] = obs.status.decode("latin-1")
    if obs.cause is not None:
        out["c"] = obs.cause.value
    if obs.dir_missing:
        out["m"] = True
    if obs.tasks:
        out["t"] = {str(k): encode(v) for k, v in obs.tasks.items()}
    return out


def decode(data: Any) -> Observation:
    """Inverse of :func:`encode`; :class:`Unreadable` for a row of a newer version or one
    with values this version does not know (an enum value added later)."""
    if not isinstance(data, dict):
        raise Unreadable(f"not an observation: {type(data).__name__}")
    version = data.get("v", 1)
    if version != ROW_VERSION:
        raise Unreadable(f"written by a clusterlab with row version {version!r}")
    try:
        return _decode(data)
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeError) as exc:
        raise Unreadable(str(exc)) from None


def _decode(data: dict[str, Any]) -> Observation:
    status = data.get("b")
    return Observation(
        state=JobState(data["s"]) if data.get("s") else None,
        reason=data.get("r", ""),
        raw=data.get("w", ""),
        status=status.encode("latin-1") if status is not None else None,
        tasks={int(k): _decode(v) for k, v in data.get("t", {}).items()},
        cause=Cause(data["c"]) if data.get("c") else None,
        dir_missing=bool(data.get("m", False)),
    )
