"""How many status agents one connection runs (:mod:`.agentlink`), across all runtimes.

Runtimes (profiles) on one connection share its agent; only profiles whose setup lines or
Python differ need one more, and each holds one of the connection's sessions (OpenSSH
allows 10 by default, MaxSessions): past :data:`AGENTS_PER_CONNECTION`, such a runtime's
jobs are polled instead. Counted per process, by the transport object.
"""

from __future__ import annotations

import threading

AGENTS_PER_CONNECTION = 2
_agents: dict[int, int] = {}  # id(transport) -> agents running or starting on it
_agents_lock = threading.Lock()


def take_slot(transport: object) -> bool:
    """Reserve an agent on ``transport``'s connection; False when it has its share."""
    with _agents_lock:
        if _agents.get(id(transport), 0) >= AGENTS_PER_CONNECTION:
            return False
        _agents[id(transport)] = _agents.get(id(transport), 0) + 1
        return True


def give_slot(transport: object) -> None:
    """An agent on ``transport``'s connection ended (or never started)."""
    with _agents_lock:
        _agents[id(transport)] = max(0, _agents.get(id(transport), 0) - 1)
