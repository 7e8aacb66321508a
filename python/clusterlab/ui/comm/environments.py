"""The ``env.event`` push: steps of Python environment builds (``environment="sync"``),
for the lab panel, which otherwise shows nothing while a job waits for its environment
(the job's ledger row only exists once the environment is ready and the job is
submitted). No requests.

Build steps are collected and sent at most every ``interval`` seconds with only the
latest step of each build (see docs/comm-protocol.md); a build in progress when the panel
connects is sent at once. (``env`` in the wire name is the environment *build*, not the
profile's ``env`` variables.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ...core import envevents
from ...core.envevents import EnvEvent
from .topic import EVENT_INTERVAL, Connection, Topic

Send = Callable[[str, Any], None]


class EnvEventRelay:
    """Forwards build events to ``send("env.event", data)``, throttled, until closed."""

    def __init__(self, send: Send, interval: float) -> None:
        self._send, self._interval = send, interval
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        for event in envevents.in_progress():
            self._on_event(event)
        self._unsubscribe = envevents.subscribe(self._on_event)
        threading.Thread(target=self._flush, daemon=True, name="clusterlab-envrelay").start()

    def _on_event(self, event: EnvEvent) -> None:
        with self._lock:
            self._pending[(event.profile, event.env)] = event.to_dict()

    def _flush(self) -> None:
        while not self._closed.wait(self._interval):
            with self._lock:
                pending, self._pending = self._pending, {}
            if pending:
                self._send("env.event", {"events": list(pending.values()), "time": time.time()})

    def close(self) -> None:
        self._closed.set()
        self._unsubscribe()


def open_topic(conn: Connection) -> Topic:
    relay = EnvEventRelay(conn.send, EVENT_INTERVAL)
    return Topic({}, close=relay.close)
