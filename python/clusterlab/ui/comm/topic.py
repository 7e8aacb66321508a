"""What a comm topic is: the contract between the router (:mod:`.router`) and the
modules that serve one area each (profiles, jobs, logs, ...).

A topic module has an ``open_topic(conn)`` function, called once per panel connection, that
returns a :class:`Topic`: the request types it serves and, for a topic that pushes
messages from its own thread, how to stop it. Per-connection state lives in the closures
``open_topic`` makes. Topics know nothing of the message envelope; they return a reply's
``data`` or raise :class:`RequestError` (or a clusterlab error) for an ``ok: false`` one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

PROTOCOL_VERSION = 1  # the envelope's "v" (docs/comm-protocol.md)
EVENT_INTERVAL = 0.25  # seconds: at most 4 event batches a second, whatever the job count


class RequestError(Exception):
    """A request that cannot be served; becomes an ``ok: false`` reply."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class Connection(Protocol):
    """What a topic may do with the panel connection it serves."""

    def send(self, type_: str, data: Any = None, id_: str | None = None, **extra: Any) -> None:
        """Push a message (``job.event``, ``check.line``, ...) to the panel."""

    def background(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the comm's thread pool (work that may touch a cluster)."""


#: ``serve(data, request_id)`` returns the reply's ``data``.
Serve = Callable[[dict[str, Any], str], Any]


@dataclass(frozen=True)
class Request:
    """One request type's handler. A ``slow`` one (it may touch a cluster) runs on the
    comm's thread pool so the kernel never blocks on it."""

    serve: Serve
    slow: bool = False


@dataclass
class Topic:
    """What a topic module's ``open_topic(conn)`` gives the router."""

    requests: Mapping[str, Request]
    close: Callable[[], None] = field(default=lambda: None)


#: A topic module's ``open_topic``.
Opener = Callable[[Connection], Topic]


def required(data: dict[str, Any], key: str, what: str) -> str:
    """The non-empty string ``data[key]``, or a RequestError naming it."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise RequestError(f"'{key}' ({what}) is required")
    return value


def job_id(data: dict[str, Any]) -> str:
    return required(data, "id", "a job id")


def profile_name(data: dict[str, Any]) -> str:
    return required(data, "name", "a profile name")
