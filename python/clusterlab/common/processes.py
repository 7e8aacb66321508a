"""Whether a process of this machine still exists, the one check the ledger (a submitter
that died) and the local scheduler (a kernel that queued a job) both need; and how a
process killed by a signal is named, the same words for every process that settles it."""

from __future__ import annotations

import os
import signal


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


def killed_by(number: int) -> str:
    """ "killed by SIGKILL" (or "killed by signal N" for a number without a name): the
    kernel that ran a local job and a later one that reads its host queue's record say
    the same."""
    try:
        return f"killed by {signal.Signals(number).name}"
    except ValueError:
        return f"killed by signal {number}"
