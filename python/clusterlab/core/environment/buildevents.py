"""Progress of a synced environment's build, as events: the build publishes, the notebook
bar, the CLI line and the comm (the lab panel) subscribe.

A build happens before its job's ledger row exists (the job cannot be submitted until
its environment is ready), so without these nothing would say why a job is not there yet.
Callbacks run on the submitting thread and must be quick (widgets redraw on their own
thread, the comm only queues); a failing subscriber is reported on stderr and never
stops the build.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ...common.topics import Topic

# The phases of a build, in order; ``done`` counts the ones finished (``total`` = all).
PHASES = ("lock", "wheels", "upload", "install", "ready")
FAILED = "failed"


@dataclass(frozen=True)
class EnvEvent:
    """One step of building the environment ``env`` (its hash) for ``profile``."""

    profile: str
    env: str
    phase: str  # one of PHASES, or FAILED
    done: int
    total: int
    message: str
    started: float  # when the build started (time.time())
    time: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        return self.phase in ("ready", FAILED)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


Listener = Callable[[EnvEvent], None]
_topic: Topic[EnvEvent] = Topic("an environment build")
_lock = threading.Lock()
_building: dict[tuple[str, str], EnvEvent] = {}  # the latest step of each unfinished build
subscribe = _topic.subscribe


def in_progress() -> list[EnvEvent]:
    """The latest step of every build of this process that has not finished."""
    with _lock:
        return list(_building.values())


def publish(event: EnvEvent) -> None:
    """Remember unfinished builds (a panel that connects later is told at once), then
    deliver ``event`` to every subscriber."""
    with _lock:
        if event.finished:
            _building.pop((event.profile, event.env), None)
        else:
            _building[(event.profile, event.env)] = event
    _topic.publish(event)


class BuildProgress:
    """The events of one build: ``step(phase, message)`` publishes that phase as reached
    (the ones before it as done); ``failed(message)`` ends it."""

    def __init__(self, profile: str, env: str) -> None:
        self.profile, self.env, self.started = profile, env, time.time()

    def step(self, phase: str, message: str) -> None:
        done = PHASES.index(phase) + (1 if phase == "ready" else 0)
        self._publish(phase, done, message)

    def failed(self, message: str) -> None:
        self._publish(FAILED, 0, message)

    def _publish(self, phase: str, done: int, message: str) -> None:
        total = len(PHASES)
        publish(EnvEvent(self.profile, self.env, phase, done, total, message, self.started))
