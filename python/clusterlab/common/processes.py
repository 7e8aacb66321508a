"""Whether a process of this machine still exists, the one check the ledger (a submitter
that died) and the local scheduler (a kernel that queued a job) both need."""

from __future__ import annotations

import os


def pid_alive(pid: object) -> bool:
    """True while process ``pid`` exists (also when it belongs to another user)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
