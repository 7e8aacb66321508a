"""``direct``: a machine with no batch scheduler, over SSH or this machine itself.

The queue lives ON THE HOST, not in the kernel: :mod:`clusterlab.remote.hostqueue` (stdlib
only) is installed once in ``<remote_dir>/queue/`` and runs there as a detached
dispatcher, one per user and remote_dir (a ``flock`` singleton), that starts spooled jobs
while fewer than ``max_concurrent`` run and records each task's life in its job dir. So a
queued job starts even if every kernel has exited or the connection dropped, and any later
process reads where it stands from files. Each job runs the same ``job.sh`` as ``local``
(the time limit is coreutils ``timeout`` inside it, on the host), in its own session;
cancel kills that whole session.

Every round trip is one constant ``sh`` script with the values as ``$1..``: submit stages
the job dir and spools it (and wakes or starts the dispatcher); poll reads every job's
files at once; cancel drops marker files the dispatcher acts on.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from importlib import resources as importlib_resources
from typing import Any

from ..common.errors import SubmitError, TransportError
from ..config.profile import Profile
from ..config.pythonspec import python_command
from ..config.resources import Resources, refuse_unsupported
from ..remote import hostqueue
from ..transports.base import Transport
from .base import STAGE_FAILED, Backend, JobSpec, Observation, WatchTarget
from .direct_status import active, observe
from .script import render_script, script_token
from .statusdump import parse_status_dump

HOSTQ_SOURCE = importlib_resources.files("clusterlab.remote").joinpath("hostqueue.py").read_bytes()
HOSTQ_NAME = f"hostq-{hashlib.sha256(HOSTQ_SOURCE).hexdigest()[:16]}.py"
STALE_SECONDS = 15.0  # a heartbeat this old, with work left: the dispatcher is gone
KICK_EVERY = 15.0  # seconds between attempts to start it again
MISSING_SCRIPT = 96  # exit code: the queue dir lost its hostq script (deleted by hand)
_NATIVE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*\Z")  # a job dir's name; "_" marks tasks
_DEPENDENCY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*(_\d+)?\Z")

# Once per backend and queue dir: the queue dir (0700) and the script (content-addressed,
# never overwritten), then what the host offers: its CPUs, and coreutils timeout.
_INSTALL = r"""
umask 077
q=$1 f=$2 host=$(uname -n)
case $host in ''|*/*|.*) echo "clusterlab: unusable host name '$host'" >&2; exit 3 ;; esac
mkdir -p -- "$q/$host/spool" && chmod 700 -- "$q" "$q/$host" "$q/$host/spool" || exit 3
if [ -f "$f" ]; then cat > /dev/null
else cat > "$f.tmp.$$" && mv -f -- "$f.tmp.$$" "$f" || exit 3
fi
getconf _NPROCESSORS_ONLN 2>/dev/null || echo 0
if command -v timeout >/dev/null 2>&1; then echo timeout; else echo no-timeout; fi
printf '%s\n' "$host"
"""

# Wake the dispatcher (SIGURG: ignored by any other process that got its pid), or start
# one when none holds the lock. Values: $q $hostq $boot, then the python argv in "$@".
_WAKE = r"""
umask 077
[ -f "$hostq" ] || { echo "clusterlab: the host queue script $hostq is gone" >&2; exit 96; }
if command -v flock >/dev/null 2>&1 && ! flock -n "$q/lock" true; then
  read -r pid 2>/dev/null < "$q/pid" && kill -s URG "$pid" 2>/dev/null
  exit 0
fi
sh -c "$boot" sh "$@" "$hostq" serve "$q" < /dev/null >> "$q/dispatcher.log" 2>&1 &
"""

# Run in the staged job dir: spool it (atomically), say its id, wake the dispatcher.
_SUBMIT = (
    r"""
q=$1 name=$2 hostq=$3 boot=$4; shift 4
[ -f "$hostq" ] || { echo "clusterlab: the host queue script $hostq is gone" >&2; exit 96; }
printf '%s\n' "$PWD" > "$q/spool/.$name" && mv -f -- "$q/spool/.$name" "$q/spool/$name" || exit 95
printf '%s\n' "${name#*-}"
"""
    + _WAKE
)

# Marker files (paths on stdin), then a nudge: the spool dir's mtime and SIGURG.
_CANCEL = (
    r"""
umask 077
q=$1 hostq=$2 boot=$3; shift 3
while IFS= read -r m; do [ -d "${m%/*}" ] && : > "$m"; done
touch -c -- "$q/spool"
"""
    + _WAKE
)

_KICK = "q=$1 hostq=$2 boot=$3; shift 3\n" + _WAKE

# The heartbeat, then each job dir's files (as statusdump.READ_STATUS: "=== DIR", tail
# headers). The dirs come one per line on stdin, never as arguments: over SSH the whole
# command is one argument of the remote shell (128 KiB at most, ~1,800 job dirs), and past
# 256 KB sshd drops the connection.
_POLL = r"""
q=$1
printf 'NOW %s\n' "$(date +%s)"
if [ -f "$q/alive" ]; then printf 'ALIVE '; head -n 1 -- "$q/alive"; fi
for e in "$q"/spool/*; do [ -f "$e" ] && printf 'SPOOL %s\n' "${e##*/}"; done
while IFS= read -r d; do
  printf '=== %s\n' "$d"
  (
    cd -- "$d" 2>/dev/null || { printf '==> %s <==\n' '(no job directory)'; exit 0; }
    files=
    for f in queue.json status status.* qstate qwait cancel cancel.*; do
      [ -f "$f" ] || continue
      case $f in
        queue.json|status|qstate|qwait|cancel) ;;
        status.*|cancel.*) case ${f#*.} in ''|*[!0-9]*) continue ;; esac ;;
        *) continue ;;
      esac
      files="$files $f"
    done
    [ -n "$files" ] && tail -n +1 -- $files /dev/null 2>/dev/null
  ) </dev/null
done
"""


def queue_dir(job_dir: str) -> str:
    """``<remote_dir>/queue`` for a job dir ``<remote_dir>/jobs/<id>``."""
    return posixpath.join(posixpath.dirname(posixpath.dirname(job_dir.rstrip("/"))), "queue")


class DirectBackend(Backend):
    """No scheduler: the host queue on the target starts jobs, a few at a time."""

    kind = "direct"

    def can_resubmit(self) -> bool:
        # The host queue's record of a run lives in the job dir (qstate): a second
        # submission of it would be read as already ended.
        return False

    def __init__(self, profile: Profile, transport: Transport) -> None:
        super().__init__(profile, transport)
        # queue dir -> (cpus, timeout, the host's name): each host has its own queue in
        # it, <remote_dir>/queue/<host>/ (two hosts may share a remote_dir on NFS)
        self._installed: dict[str, tuple[int, bool, str]] = {}
        self._kicked: dict[str, float] = {}  # queue dir -> when we last woke or started it
        self._lock = threading.Lock()

    # -- the host ---------------------------------------------------------------------------
    def _default_queue(self) -> str:
        remote_dir = self.profile.remote_dir or "~/.clusterlab"
        return self.transport.expand(remote_dir).rstrip("/") + "/queue"

    def _install(self, q: str, again: bool = False) -> tuple[int, bool, str]:
        with self._lock:
            if again:
                self._installed.pop(q, None)
            if q not in self._installed:
                path = f"{q}/{HOSTQ_NAME}"
                res = self.transport.script(_INSTALL, q, path, stdin=HOSTQ_SOURCE)
                lines = res.out.split()
                if res.returncode != 0 or len(lines) < 3 or not lines[0].isdigit():
                    raise TransportError(
                        f"{self.transport.label}: could not set up the host queue in {q}: "
                        f"{(res.err or res.out).strip() or res.returncode}. Check the "
                        "profile's remote_dir (free space, permissions)."
                    )
                self._installed[q] = (int(lines[0]), lines[1] == "timeout", lines[2])
            return self._installed[q]

    def _host_queue(self, q: str) -> str:
        """This host's queue in the queue dir ``q``: ``q/<uname -n>``. Keyed by host, so
        hosts that share a remote_dir (an NFS home) never run, signal or settle each
        other's jobs (a pid means nothing on another host)."""
        return f"{q}/{self._install(q)[2]}"

    @property
    def slots(self) -> int:
        """Jobs of this profile that run at once: max_concurrent, else the host's cores."""
        return self.profile.max_concurrent or self._install(self._default_queue())[0] or 1

    def _python(self) -> list[str]:
        """The interpreter for the dispatcher: the profile's (after its setup lines), else
        ``python3`` on a remote host, else this kernel's (as for jobs, core.environment.remote)."""
        if self.profile.python:
            return python_command(self.profile.python, self.transport.expand)
        return ["python3"] if self.profile.is_remote else [sys.executable]

    def _boot(self) -> str:
        """Shell code that runs the profile's setup lines (output to stderr), then "$@"."""
        setup = "\n".join(self.profile.setup)
        return f'{{\n{setup}\n}} >&2\nexec "$@"' if setup.strip() else 'exec "$@"'

    def _wake_args(self, q: str) -> list[str]:
        """For the scripts of this host's queue ``q`` (the script lies in its parent)."""
        self._kicked[q] = time.monotonic()
        return [q, f"{posixpath.dirname(q)}/{HOSTQ_NAME}", self._boot(), *self._python()]

    def describe(self) -> str:
        q = self._default_queue()
        cpus, has_timeout, host = self._install(q)
        q = f"{q}/{host}"
        limit = self.profile.max_concurrent
        at_once = f"{limit} at once" if limit else f"one per core ({cpus} at once)"
        note = "" if has_timeout else "; WARNING: no `timeout` command there, time limits fail"
        where = self.transport.label
        return f"no scheduler: jobs run directly on {where}, {at_once}, queued in {q}{note}"

    def capacity(self, resources: Resources) -> int:
        return self.slots

    # -- jobs -------------------------------------------------------------------------------
    def job_script(self, spec: JobSpec) -> str:
        refuse_unsupported(spec.resources, self.kind)  # what it lacks, in its own words
        limit = self.profile.max_concurrent
        at_once = f"at most {limit} jobs" if limit else "as many jobs as the host has cores"
        header = [
            "# direct: no scheduler; the host queue in <remote_dir>/queue runs this script",
            "# with /bin/sh in its own session, output to stdout/stderr in the job dir,",
            f"# {at_once} at once"
            + (f", after: {' '.join(map(script_token, spec.after))}" if spec.after else ""),
        ]
        if spec.array:
            throttle = spec.array.max_concurrent
            header.append(
                f"# array: tasks 0-{spec.array.tasks - 1}"
                + (f", at most {throttle} at once" if throttle else "")
            )
        return render_script(spec, header, hostqueue.TASK_VAR, enforce_limit=True)

    def submit(self, spec: JobSpec, files: Mapping[str, bytes]) -> str:
        native = posixpath.basename(spec.job_dir.rstrip("/"))
        if not _NATIVE.match(native):
            raise SubmitError(f"direct: job directory name {native!r} is not a plain token")
        bad = [a for a in spec.after if not _DEPENDENCY.match(a)]
        if bad:
            raise SubmitError(
                f"direct: cannot wait for {', '.join(bad)}: the host queue waits only for "
                "jobs of its own (the same profile's remote_dir)"
            )
        q = self._host_queue(queue_dir(spec.job_dir))
        entry = {
            "v": 1,
            "native": native,
            "tasks": spec.array.tasks if spec.array else 0,
            "throttle": spec.array.max_concurrent if spec.array else 0,
            "after": list(spec.after),
            "limit": self.profile.max_concurrent,
            "time": spec.resources.time_s or 0,
            "host": posixpath.basename(q),
        }
        staged = {
            **files,
            "job.sh": self.job_script(spec).encode(),
            hostqueue.SPEC: (json.dumps(entry) + "\n").encode(),
        }
        name = f"{time.time_ns():020d}-{native}"
        for attempt in (1, 2):
            then = ["sh", "-c", _SUBMIT, "sh", q, name, *self._wake_args(q)[1:]]
            res = self.transport.stage(spec.job_dir, staged, then=then, executable=["job.sh"])
            if res.returncode != MISSING_SCRIPT or attempt == 2:
                break
            self._install(posixpath.dirname(q), again=True)  # its queue dir was deleted
        if res.returncode == STAGE_FAILED:
            raise SubmitError(
                f"could not create the job directory {spec.job_dir} on {self.transport.label}: "
                f"{res.err.strip()}. Check the profile's remote_dir (free space, permissions)."
            )
        if res.returncode != 0:
            raise SubmitError(
                f"the host queue refused the job: {res.err.strip() or res.returncode}"
            )
        return native

    def poll(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        out: dict[str, Observation] = {}
        groups: dict[str, list[WatchTarget]] = {}
        for t in targets:
            groups.setdefault(queue_dir(t.job_dir), []).append(t)
        for base, group in groups.items():
            q = self._host_queue(base)
            dirs = [t.job_dir for t in group]
            if any("\n" in d for d in dirs):
                raise ValueError(f"job dirs cannot hold newlines: {dirs}")
            stdin = "".join(f"{d}\n" for d in dirs).encode()
            res = self.transport.script(_POLL, q, stdin=stdin)
            head, _, dump = res.stdout.partition(b"\n=== ")
            if not head.startswith(b"NOW "):
                raise TransportError(
                    f"{self.transport.label}: status poll failed: {res.err.strip()}"
                )
            now, heartbeat, spooled = _header(head.decode("utf-8", "replace"))
            files = parse_status_dump(b"=== " + dump if dump else b"")
            silent = heartbeat is None or now - float(heartbeat.get("time") or 0) > STALE_SECONDS
            woken = time.monotonic() - self._kicked.get(q, float("-inf")) < STALE_SECONDS
            stale = silent and not woken  # one we just woke or started may not have beaten yet
            running = int(heartbeat.get("running") or 0) if heartbeat and not stale else 0
            for t in group:
                queued = posixpath.basename(t.job_dir.rstrip("/")) in spooled
                out[t.native_id] = observe(
                    files.get(t.job_dir, {}), t.is_array, running, stale, queued
                )
            if stale and any(active(out[t.native_id]) for t in group):
                self._revive(q)
        return out

    def _revive(self, q: str) -> None:
        """Work is queued or running but no dispatcher beats (the host restarted, or it was
        killed): start one (it adopts what still runs), at most every KICK_EVERY s."""
        if time.monotonic() - self._kicked.get(q, float("-inf")) < KICK_EVERY:
            return
        res = self.transport.script(_KICK, *self._wake_args(q))
        if res.returncode == MISSING_SCRIPT:
            self._install(posixpath.dirname(q), again=True)
            self.transport.script(_KICK, *self._wake_args(q))

    def cancel(self, targets: Sequence[WatchTarget]) -> None:
        groups: dict[str, list[str]] = {}
        for t in targets:
            split = self.split_task_id(t.native_id)
            marker = f"{t.job_dir}/cancel" + (f".{split[1]}" if split else "")
            groups.setdefault(queue_dir(t.job_dir), []).append(marker)
        for base, markers in groups.items():
            q = self._host_queue(base)
            if any("\n" in m for m in markers):
                raise ValueError(f"job dirs cannot hold newlines: {markers}")
            stdin = "".join(f"{m}\n" for m in markers).encode()
            res = self.transport.script(_CANCEL, *self._wake_args(q), stdin=stdin)
            if res.returncode == MISSING_SCRIPT:
                self._install(base, again=True)
                res = self.transport.script(_CANCEL, *self._wake_args(q), stdin=stdin)
            if res.returncode != 0:
                raise TransportError(f"direct: cancelling failed: {res.err.strip()}")


def _header(text: str) -> tuple[float, dict[str, Any] | None, set[str]]:
    """(the host's clock, the dispatcher's heartbeat or None, the job dir names in the
    spool) from the poll's first lines."""
    now, beat, spooled = time.time(), None, set()
    for line in text.splitlines():
        if line.startswith("NOW ") and line[4:].strip().isdigit():
            now = float(line[4:])
        elif line.startswith("ALIVE "):
            try:
                beat = json.loads(line[6:])
            except ValueError:
                beat = None
        elif line.startswith("SPOOL "):
            spooled.add(line[6:].partition("-")[2])  # <time_ns>-<job dir name>
    return now, beat if isinstance(beat, dict) else None, spooled
