"""Followed output pushed by the status agent: which followers wait for which log, the
agent's ``follow``/``unfollow`` commands, and handing each pushed piece on.

The agent (:mod:`clusterlab.remote.agent`) sends a followed log's new bytes as they are
written, at most its per-job cap a second; a log with more waiting is paused ("more"), the
watcher reads the rest with its offset read (:mod:`.follow`), and :meth:`FollowedLogs.resume`
moves the agent on to where that read ended. Pushed and read bytes share one offset per
stream in the follower, so output comes in order, complete and once. Kept apart from
:class:`.agentlink.Push`, which owns the agent's process and its status lines.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..runtime import Runtime
    from .follow import Follower


class FollowedLogs:
    """One agent's followed logs. ``lock``, ``send``, ``live`` and ``roots`` are its
    :class:`.agentlink.Push`'s (the lock guards both; ``roots``: the jobs roots the agent
    may follow dirs under, a set Push updates in place)."""

    def __init__(
        self,
        lock: threading.Lock,
        send: Callable[[str], None],
        live: Callable[[], bool],
        roots: set[str],
    ) -> None:
        self._lock, self._send, self._live, self._roots = lock, send, live, roots
        # (job dir, log name) -> [(follower, its stream, its runtime)]
        self._logs: dict[tuple[str, str], list[tuple[Follower, str, Runtime]]] = {}
        self.log_bytes = 0  # followed-log bytes received (tests and the bench count them)

    def follow(self, follower: Follower, runtime: Runtime) -> bool:
        """Push ``follower``'s logs from the offsets it reached; False when this agent
        cannot yet (its job dir is under no jobs root it follows: the job is still being
        submitted): the watcher reads them, and asks again when it watches new jobs."""
        with self._lock:
            if follower.closed or follower.pushed:
                return follower.pushed
            dirs = {posixpath.dirname(p) for p in follower.paths.values()}
            if any(posixpath.dirname(d) not in self._roots for d in dirs):
                return False
            for stream, path in follower.paths.items():
                key = posixpath.split(path)
                self._logs.setdefault(key, []).append((follower, stream, runtime))
                if self._live():
                    self._send(self._command(key))
            follower.pushed = True
            return True

    def unfollow(self, follower: Follower) -> None:
        """No more pushes for ``follower`` (the agent forgets logs nobody follows)."""
        with self._lock:
            follower.pushed = False
            for path in follower.paths.values():
                key = posixpath.split(path)
                left = [e for e in self._logs.get(key, []) if e[0] is not follower]
                if left:
                    self._logs[key] = left
                elif self._logs.pop(key, None) is not None and self._live():
                    self._send(f"unfollow {key[0]} {key[1]}")

    def resume(self, follower: Follower, offsets: dict[str, int]) -> None:
        """The watcher read what the agent paused: go on from there."""
        with self._lock:
            if not self._live():
                return
            for stream in offsets:
                key = posixpath.split(follower.paths[stream])
                if key in self._logs:
                    self._send(self._command(key))

    def commands(self) -> str:
        """Every followed log's ``follow`` command, for an agent that (re)started ('' when
        none is followed; the caller holds the lock)."""
        return "\n".join(self._command(k) for k in self._logs)

    def _command(self, key: tuple[str, str]) -> str:
        """``follow DIR LOG OFFSET`` from the lowest offset its followers reached (a
        follower further on skips the bytes it has; caller holds the lock)."""
        offset = min(f.offset_of(stream) for f, stream, _ in self._logs[key])
        return f"follow {key[0]} {key[1]} {offset}"

    def sort(self, raw: list[bytes], behind: list[Runtime]) -> list[dict[str, Any]]:
        """The agent's records in ``raw`` but for log pieces, which go to their followers
        here, in order as they came (``behind`` gets the runtimes whose watcher must read
        a log the agent paused)."""
        records: list[dict[str, Any]] = []
        for line in raw:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):  # not the agent's (a setup line's echo)
                continue
            if "log" in record:
                behind += self.take(record)
            else:
                records.append(record)
        return records

    def take(self, record: dict[str, Any]) -> list[Runtime]:
        """Hand a pushed log piece to its followers; the runtimes whose watcher must now
        read a log itself (the agent paused it)."""
        key = (str(record.get("dir", "")), str(record.get("log", "")))
        try:
            data = base64.b64decode(str(record.get("data", "")), validate=True)
            start = int(record.get("offset", -1))
        except (binascii.Error, ValueError):
            return []
        with self._lock:
            entries = list(self._logs.get(key, []))
            self.log_bytes += len(data)
        return [
            runtime
            for follower, stream, runtime in entries
            if follower.take_pushed(stream, start, data, bool(record.get("more")))
        ]
