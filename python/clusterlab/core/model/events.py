"""Job events: the watcher publishes, futures, widgets and the comm subscribe.

Callbacks run on the watcher thread and must be quick; a failing subscriber is reported
on stderr once per failure and never stops the watcher or other subscribers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...common.states import JobState
from ...common.topics import Topic


@dataclass(frozen=True)
class JobEvent:
    """A job changed state or reason."""

    job_id: str
    profile: str
    state: JobState
    reason: str
    native_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[JobEvent], None]
_jobs: Topic[JobEvent] = Topic("a job event")
subscribe = _jobs.subscribe
publish = _jobs.publish
