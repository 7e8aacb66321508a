"""The faults of the chaos run (bench/chaos.py), each a function that injects one and
returns a line saying what it did. Processes are found by id (pid files, /proc with this
run's unique paths in their command line), never by a broad name: the sandbox is shared.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.cluster import sandbox as sb

SSHD_DOWN = 5.0  # seconds sshd stays stopped
DISK_FULL = 20.0  # seconds the job dir's file system stays full


def _procs() -> list[tuple[int, int, bytes]]:
    """(pid, uid, cmdline) of every process."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes()
            uid = os.stat(f"/proc/{name}").st_uid
        except OSError:
            continue
        out.append((int(name), uid, cmd))
    return out


def _kill(pids: list[int]) -> int:
    n = 0
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            n += 1
    return n


def sshd_restart() -> str:
    """Stop the sandbox's sshd (by its pid file), wait, start it with the same config."""
    port = sb.load_info().ssh_port  # type: ignore[union-attr]
    sb._stop(sb._p("sshd_pid"), "sshd")
    time.sleep(SSHD_DOWN)
    sb.ensure_sshd(port, timeout=20)  # the same config and port again
    return f"sshd stopped for {SSHD_DOWN:.0f} s and started again (up: {sb._port_open(port)})"


def slurmctld_restart() -> str:
    """Stop slurmctld (by its pid file) and start it without -c: it recovers its jobs."""
    sb._stop(sb._p("ctld_pid"), "slurmctld")
    subprocess.run(
        ["/usr/sbin/slurmctld", "-f", str(sb._p("conf"))], check=True, env=sb._slurm_env()
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        res = subprocess.run(["sinfo", "-h"], capture_output=True, env=sb._slurm_env())
        if res.returncode == 0:
            break
        time.sleep(0.5)
    return "slurmctld restarted (state recovered)"


def connection_cut(login_dir: Path) -> str:
    """SIGKILL this run's ssh client processes (the shared login's master and its
    clients: their command lines name this run's login dir): every open connection drops."""
    mine = str(login_dir).encode()
    pids = [
        pid
        for pid, _, cmd in _procs()
        if cmd.split(b"\0")[0].rsplit(b"/", 1)[-1] == b"ssh" and mine in cmd
    ]
    n = _kill(pids)
    return f"SSH connections cut ({n} ssh processes killed)" if n else "SKIPPED: no connection"


def agent_kill(token: str, uid: int) -> str:
    """SIGKILL the status agents this run started on the cluster side (the sandbox user's
    ``python -c <agent> ROOTS`` with this run's remote dirs among the roots)."""
    pids = [
        pid
        for pid, owner, cmd in _procs()
        if owner == uid and b"The status agent" in cmd and token.encode() in cmd
    ]
    n = _kill(pids)
    return f"status agents killed ({n})" if n else "SKIPPED: no agent ran"


def disk_full(mount: Path) -> str:
    """Fill the job dirs' file system (a tmpfs of its own) for a while, then free it."""
    filler = mount / "chaos-filler"
    written = 0
    chunk = b"\0" * (1 << 20)
    try:
        with open(filler, "wb") as fh:
            while True:
                fh.write(chunk)
                fh.flush()
                written += len(chunk)
    except OSError:
        pass  # ENOSPC: full
    with contextlib.suppress(OSError), open(mount / "chaos-filler-2", "wb") as fh:
        while True:  # the last bytes too
            fh.write(b"\0" * 4096)
            fh.flush()
    time.sleep(DISK_FULL)
    for name in ("chaos-filler", "chaos-filler-2"):
        with contextlib.suppress(FileNotFoundError):
            (mount / name).unlink()
    return f"job dir file system full for {DISK_FULL:.0f} s ({written >> 20} MiB filler)"
