"""One scheduler poller per cluster per machine: a lease and shared observations in SQLite.

Every kernel, the panel's kernel and the CLI run a watcher; without coordination N open
notebooks cost a cluster N times the ``squeue`` load, the first thing HPC admins notice.
Watchers of one cluster on one machine therefore share one poll per interval:

* A watcher that wants to poll first *registers* what it watches (``poll_targets``, with a
  heartbeat in ``poll_watchers``) and then takes or renews the cluster's *lease*
  (``poll_leases``, under ``BEGIN IMMEDIATE``). The lease is free when nobody holds it,
  when it expired (the holder stopped renewing: hung or dead) or when the holder's process
  is gone (``kill(pid, 0)``), so a SIGKILLed holder is replaced at the next poll of anyone.
* The holder polls the **union** of every live watcher's targets in its one backend round
  trip (for SLURM one ``squeue`` plus every status file) and publishes what it saw in
  ``poll_seen`` (only rows that changed, plus the time of the poll on the lease).
* The others read their targets' observations from ``poll_seen`` instead of asking the
  scheduler. A target the holder has not seen within the lease's lifetime (its poll
  interval is longer than ours) is polled by the reader itself, so nothing waits forever;
  and when the holder has published nothing for a lease lifetime (its polls fail), every
  reader polls on its own again, so each kernel sees the scheduler's or network's error.
* The holder gives the lease back when its own watcher has nothing left to watch and at
  interpreter exit (``atexit``), so another watcher takes over at its next poll; if the
  holder dies, the lease expires after ``2 x poll_interval + 1 s`` and nothing is lost:
  every watcher still holds its own jobs and their state in memory and in the ledger.

Why a lease in the ledger's SQLite rather than a per-user agent process: the ledger is
already the per-user, per-machine meeting point every process opens (WAL mode, busy
timeout), so sharing costs two small tables and no new process to start, find, authenticate
(a socket other users cannot reach), upgrade or clean up after; a watcher whose SQLite
fails simply polls on its own, as before. The price is that a reader learns of a change up
to one of its own intervals after the holder did, which the watcher's short interval after
a change keeps small.

Only command-line batch schedulers share (SLURM, Grid Engine, PBS, TORQUE): the local
backend sees its own child processes end, Kubernetes watches its API server.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import sqlite3
import sys
import time
from collections.abc import Sequence

from ...backends.base import Backend, Observation, WatchTarget
from ...config.profile import Profile
from ..ledger import store as ledger
from .pollstore import Unreadable, cluster_key, decode, encode, pid_alive, shareable
from .pollstore import conn as _conn


class SharedPoll:
    """One watcher's side of the machine-wide poller of its cluster."""

    def __init__(self, backend: Backend, profile: Profile, max_interval: float) -> None:
        self.backend = backend
        self.cluster = cluster_key(profile)
        self.token = f"{os.getpid()}-{secrets.token_hex(6)}"
        self.ttl = 2 * max_interval + 1.0  # "stale beyond two intervals"
        self.holding = False
        self.news = False  # the last poll (as holder) saw others' targets change or arrive
        self.scheduler_polls = 0  # backend round trips made by this watcher
        self.shared_reads = 0  # polls answered from another watcher's observations
        self._registered: dict[str, WatchTarget] = {}
        self._published: dict[str, str] = {}
        # What each single job's published row was made from: a job seen exactly so again
        # (most of 10,000 held jobs, poll after poll) needs no JSON built to know it.
        self._published_from: dict[str, tuple[object, ...]] = {}
        self._union: set[str] = set()
        self._unseen_since: dict[str, float] = {}
        self._decoded: dict[str, tuple[float, Observation]] = {}
        self._ledger: str | None = None  # the ledger we registered in, until released
        self._broken = False
        self._said_unreadable = False
        atexit.register(self.release)

    # -- the watcher's one call ---------------------------------------------------------
    def poll(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        """Observations of ``targets``, by native id: polled (for everyone) when this
        watcher holds the lease, else read from the holder's; a target with no fresh
        observation yet is left out (the watcher looks again at its next poll)."""
        if self._broken:
            return self._direct(targets)
        try:
            self._register(targets)
            holder = self._take_lease()
        except sqlite3.Error as exc:
            self._give_up(exc)
            return self._direct(targets)
        if holder:
            return self._poll_for_all(targets)
        try:
            return self._read(targets)
        except sqlite3.Error as exc:
            self._give_up(exc)
            return self._direct(targets)

    def release(self) -> None:
        """Stop sharing: drop this watcher's targets and hand the lease on (called when
        its watcher has nothing left to watch, and at exit)."""
        self._registered.clear()
        self._unseen_since.clear()
        if self._broken or self._ledger is None:
            return  # nothing registered since the last release
        if str(ledger.path()) != self._ledger:
            return  # the data dir changed under us (tests): that ledger is not ours to touch
        self._ledger = None
        try:
            conn = _conn()

            def drop() -> None:
                args = (self.cluster, self.token)
                conn.execute("DELETE FROM poll_targets WHERE cluster=? AND token=?", args)
                conn.execute("DELETE FROM poll_watchers WHERE cluster=? AND token=?", args)
                conn.execute("DELETE FROM poll_leases WHERE cluster=? AND holder=?", args)

            ledger.transact(conn, drop)
        except (sqlite3.Error, OSError) as exc:  # at exit the data dir may be gone
            print(f"clusterlab: could not release the shared poll lease: {exc}", file=sys.stderr)
        self.holding = False
        self._published.clear()
        self._published_from.clear()

    # -- steps ------------------------------------------------------------------------------
    def _direct(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        self.scheduler_polls += 1
        return self.backend.poll(targets)

    def _give_up(self, exc: BaseException) -> None:
        """SQLite failed: poll on our own from now on, and say so once."""
        self._broken = True
        self.holding = False
        print(
            f"clusterlab: cannot share scheduler polls through the ledger ({exc}); "
            "this process polls on its own",
            file=sys.stderr,
        )

    def _register(self, targets: Sequence[WatchTarget]) -> None:
        """Heartbeat, and the targets that changed since the last call, in one commit."""
        now = time.time()
        wanted = {t.native_id: t for t in targets}
        added = [t for n, t in wanted.items() if n not in self._registered]
        gone = [n for n in self._registered if n not in wanted]
        for t in added:
            self._unseen_since.setdefault(t.native_id, time.monotonic())
        for n in gone:
            self._unseen_since.pop(n, None)
        conn = _conn()

        def write() -> None:
            conn.execute(
                "INSERT OR REPLACE INTO poll_watchers (cluster, token, pid, expires) "
                "VALUES (?, ?, ?, ?)",
                (self.cluster, self.token, os.getpid(), now + self.ttl),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO poll_targets "
                "(cluster, token, native_id, job_dir, is_array) VALUES (?, ?, ?, ?, ?)",
                [
                    (self.cluster, self.token, t.native_id, t.job_dir, int(t.is_array))
                    for t in added
                ],
            )
            conn.executemany(
                "DELETE FROM poll_targets WHERE cluster=? AND token=? AND native_id=?",
                [(self.cluster, self.token, n) for n in gone],
            )

        self._ledger = str(ledger.path())
        ledger.transact(conn, write)
        self._registered = wanted

    def _take_lease(self) -> bool:
        """Take or renew the lease if it is ours, free, expired or its holder is dead."""
        conn = _conn()
        now = time.time()

        def take() -> bool:
            row = conn.execute(
                "SELECT holder, pid, expires FROM poll_leases WHERE cluster=?",
                (self.cluster,),
            ).fetchone()
            mine = row is None or row[0] == self.token
            if not mine and (row[2] < now or not pid_alive(int(row[1]))):
                mine = True
            if row is None:  # free: nothing stale to hide, readers may read at once
                conn.execute(
                    "INSERT INTO poll_leases (cluster, holder, pid, expires, polled_at, ttl) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (self.cluster, self.token, os.getpid(), now + self.ttl, now, self.ttl),
                )
            elif mine:  # renewed, or taken over (its last poll time stays as it was)
                conn.execute(
                    "UPDATE poll_leases SET holder=?, pid=?, expires=?, ttl=? WHERE cluster=?",
                    (self.token, os.getpid(), now + self.ttl, self.ttl, self.cluster),
                )
            return mine

        held = ledger.transact(conn, take)
        if held and not self.holding:
            self._published.clear()  # a new tenure publishes every row afresh
            self._published_from.clear()
        self.holding = held
        return held

    def _others(self) -> list[WatchTarget]:
        """Every live watcher's targets on this cluster (dead watchers' rows go)."""
        conn = _conn()
        now = time.time()
        rows = conn.execute(
            "SELECT t.native_id, t.job_dir, t.is_array, w.pid FROM poll_targets t "
            "JOIN poll_watchers w ON w.cluster=t.cluster AND w.token=t.token "
            "WHERE t.cluster=? AND t.token!=? AND w.expires>=?",
            (self.cluster, self.token, now),
        ).fetchall()
        return [WatchTarget(n, d, bool(a)) for n, d, a, pid in rows if pid_alive(int(pid))]

    def _poll_for_all(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        try:
            others = self._others()
        except sqlite3.Error as exc:
            self._give_up(exc)
            return self._direct(targets)
        union = {t.native_id: t for t in others}
        union.update((t.native_id, t) for t in targets)
        seen = self._direct(list(union.values()))
        mine = {t.native_id for t in targets}
        changed: list[tuple[str, str, float, str]] = []
        now = time.time()
        for native, obs in seen.items():
            source = _source(obs)
            if source is not None and self._published_from.get(native) == source:
                continue  # as published at the last poll
            text = json.dumps(encode(obs), separators=(",", ":"))
            if source is None:
                self._published_from.pop(native, None)
            else:
                self._published_from[native] = source
            if self._published.get(native) != text:
                self._published[native] = text
                changed.append((self.cluster, native, now, text))
        self.news = bool(set(union) - self._union) or any(c[1] not in mine for c in changed)
        self._union = set(union)
        for native in [n for n in self._published if n not in union]:
            del self._published[native]
            self._published_from.pop(native, None)
        try:
            self._publish(changed, list(union), now)
        except sqlite3.Error as exc:
            self._give_up(exc)
        for native in mine:
            self._unseen_since.pop(native, None)
        return {n: o for n, o in seen.items() if n in mine}

    def _publish(
        self, changed: list[tuple[str, str, float, str]], union: list[str], now: float
    ) -> None:
        conn = _conn()

        def write() -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO poll_seen (cluster, native_id, observed, obs) "
                "VALUES (?, ?, ?, ?)",
                changed,
            )
            keep = set(union)
            stale = [
                (self.cluster, n)
                for (n,) in conn.execute(
                    "SELECT native_id FROM poll_seen WHERE cluster=?", (self.cluster,)
                )
                if n not in keep
            ]
            conn.executemany("DELETE FROM poll_seen WHERE cluster=? AND native_id=?", stale)
            conn.execute(
                "DELETE FROM poll_watchers WHERE cluster=? AND expires<?",
                (self.cluster, now - self.ttl),
            )
            conn.execute(
                "DELETE FROM poll_targets WHERE cluster=? AND token NOT IN "
                "(SELECT token FROM poll_watchers WHERE cluster=?)",
                (self.cluster, self.cluster),
            )
            conn.execute(
                "UPDATE poll_leases SET polled_at=?, expires=? WHERE cluster=? AND holder=?",
                (now, now + self.ttl, self.cluster, self.token),
            )

        ledger.transact(conn, write)

    def _read(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        """The holder's observations of ``targets``. When the holder has published nothing
        for longer than a lease lifetime (its polls fail: the scheduler or the network is
        down), this watcher polls on its own, so its kernel sees the error too. A target
        the holder has not seen for that long is polled here (it may poll less often)."""
        conn = _conn()
        self.news = False
        lease = conn.execute(
            "SELECT polled_at, ttl FROM poll_leases WHERE cluster=?", (self.cluster,)
        ).fetchone()
        if lease is None or time.time() - float(lease[0]) > max(self.ttl, float(lease[1])):
            return self._direct(targets)
        wanted = {t.native_id for t in targets}
        out: dict[str, Observation] = {}
        decoded: dict[str, tuple[float, Observation]] = {}
        unreadable: list[WatchTarget] = []
        for native, observed, text in conn.execute(
            "SELECT native_id, observed, obs FROM poll_seen WHERE cluster=?", (self.cluster,)
        ):
            if native in wanted:
                hit = self._decoded.get(native)  # unchanged rows are not decoded again
                try:
                    obs = hit[1] if hit and hit[0] == observed else decode(json.loads(text))
                except (Unreadable, ValueError):  # a newer clusterlab's row: poll it alone
                    unreadable.append(next(t for t in targets if t.native_id == native))
                    continue
                decoded[native] = (observed, obs)
                out[native] = obs
        self._decoded = decoded
        self.shared_reads += 1
        now = time.monotonic()
        overdue = []
        skip = {t.native_id for t in unreadable}
        for t in targets:
            if t.native_id in out or t.native_id in skip:
                self._unseen_since.pop(t.native_id, None)
            elif now - self._unseen_since.setdefault(t.native_id, now) > self.ttl:
                overdue.append(t)
        if unreadable:
            self._say_unreadable()
            out.update(self._direct(unreadable))
            for t in unreadable:
                self._unseen_since.pop(t.native_id, None)
        if overdue:
            out.update(self._direct(overdue))
            for t in overdue:
                self._unseen_since[t.native_id] = now
        return out

    def _say_unreadable(self) -> None:
        if not self._said_unreadable:
            self._said_unreadable = True
            print(
                "clusterlab: another kernel on this machine (a newer clusterlab) shares "
                "scheduler polls in a form this one cannot read; this kernel polls those "
                "jobs on its own (upgrade clusterlab in this kernel to share again)",
                file=sys.stderr,
            )


def for_backend(backend: Backend, profile: Profile, max_interval: float) -> SharedPoll | None:
    """The watcher's shared poller, or None when this backend polls on its own."""
    return SharedPoll(backend, profile, max_interval) if shareable(backend) else None


def _source(obs: Observation) -> tuple[object, ...] | None:
    """Everything a single job's row is encoded from (None for an array: its tasks)."""
    if obs.tasks:
        return None
    return (obs.state, obs.reason, obs.raw, obs.status, obs.cause, obs.dir_missing)
