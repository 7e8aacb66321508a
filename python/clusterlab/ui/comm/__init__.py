"""Kernel side of the ``clusterlab`` comm: the lab panel's only way to reach clusterlab.

Protocol (version 1, documented in docs/comm-protocol.md): every message is JSON
``{"v": 1, "type": ..., "id": ..., "data": ...}``. A request gets exactly one reply with
the same ``id`` and type ``<request type>.reply``, carrying ``ok`` and either ``data`` or
``error`` (``{"message", "fields"?}``). The kernel also pushes, unprompted, ``job.event``
(state changes, throttled), ``env.event`` (steps of an environment build, throttled;
:mod:`.environments`) and ``check.line`` (progress of a ``profiles.check``).

:mod:`.router` holds the envelope, dispatch, replies and pushes; each topic (profiles,
jobs, logs, results, environments) is its own module, listed in :mod:`.registry`, with
the contract in :mod:`.topic`. Nothing here blocks the kernel: requests that touch a
cluster (check, cancel, logs) run on a small thread pool and reply when done.
"""

from __future__ import annotations

from typing import Any

from .router import CommHandler
from .topic import EVENT_INTERVAL, PROTOCOL_VERSION, RequestError

TARGET = "clusterlab"

_handlers: list[CommHandler] = []


def _open(comm: Any, open_msg: Any) -> None:
    _handlers.append(CommHandler(comm))


def register() -> None:
    """Register the comm target in this kernel (idempotent)."""
    from comm import get_comm_manager

    get_comm_manager().register_target(TARGET, _open)


__all__ = [
    "EVENT_INTERVAL",
    "PROTOCOL_VERSION",
    "TARGET",
    "CommHandler",
    "RequestError",
    "register",
]
