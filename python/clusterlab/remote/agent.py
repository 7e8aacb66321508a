"""The status agent: one long-lived process per host that pushes job status lines.

Stdlib only, like the runner: the kernel starts it as ``python -c <this file> JOBS_ROOT...``
(over an exec channel of its existing SSH connection, or as a local subprocess), so no
file is staged and it dies with the connection (its stdin closes, it exits).

Why: without it the kernel learns that a job started or ended only at its next poll of
the scheduler, so the latency is set by the poll schedule. The agent follows the status
files of the jobs the kernel watches and prints each new line at once.

Protocol (one JSON object per line):

- stdin: ``watch DIR`` / ``unwatch DIR``. DIR must be a direct child of a JOBS_ROOT, given
  as an absolute normalised path; anything else is refused (never given to a shell).
  ``follow DIR LOG OFFSET`` / ``unfollow DIR LOG``: push the bytes of the job's log ``LOG``
  (``stdout``, ``stderr``, ``stdout.N``, ``stderr.N``) from byte ``OFFSET`` on, as they are
  written. A ``follow`` of a log already followed moves it to ``OFFSET`` (the kernel read
  the rest itself) and resumes it.
- stdout: ``{"agent": 1, "pid": N, "inotify": bool}`` once ready;
  ``{"dir": D, "file": "status" | "status.N", "offset": O, "line": TEXT}`` per new
  complete status line (``O``: its byte offset; a watch starts at offset 0, so the kernel
  gets the whole file first); ``{"refused": TEXT, "why": ...}`` for a bad command;
  ``{"dir": D, "log": NAME, "offset": O, "data": BASE64, "more": bool}`` per new piece of a
  followed log. Bounded: at most :data:`LOG_CAP` bytes of one job's logs per
  :data:`LOG_WINDOW`; a log with more waiting than that is sent up to the cap with
  ``"more": true`` and paused until the kernel, having read the rest with an ordinary
  offset read, sends ``follow`` again with the offset it reached (so nothing is lost or
  sent twice, and a job printing megabytes a second cannot flood the connection).
  ``{"dir": D, "end": 1, "sizes": {"stdout": N, "stderr": N}, "result": BASE64}`` just
  before a job's ``finished`` line (after its followed logs' last pieces): its logs' sizes
  and its ``result.pkl`` when at most :data:`RESULT_MAX` bytes;
  ``{"dir": D, "item": N, "result": BASE64}`` likewise before an ``item-finished`` line
  (``results/N.pkl``, at most :data:`ITEM_RESULT_MAX` bytes).

Change detection: inotify (through ctypes) where the kernel has it, with a slow rescan
behind it (a file system shared with compute nodes does not tell inotify about writes
made on other machines); else a stat loop every ~50 ms.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import select
import signal
import stat
import struct
import sys
import time
from typing import IO, Any

VERSION = 1
STAT_INTERVAL = 0.05  # seconds between sweeps without inotify
STAT_PER_FILE = 0.00002  # ... plus this per followed file (1,000 jobs: a sweep per 0.05 s)
RESCAN_INTERVAL = 1.0  # with inotify: a full sweep anyway, for writes made on other nodes
STAT_ONLY_VAR = "CLUSTERLAB_AGENT_STAT_ONLY"  # "1": the stat loop even with inotify (tests)
RESCAN_VAR = "CLUSTERLAB_AGENT_RESCAN"  # seconds between sweeps with inotify (tests)
MAX_LINE = 1 << 20  # a "line" longer than this is not a status record: skipped
LOG_CAP = 64 * 1024  # bytes of one job dir's logs pushed per LOG_WINDOW, at most
LOG_WINDOW = 1.0  # seconds
RESULT_MAX = 64 * 1024  # a result up to this size is pushed with its job's end
ITEM_RESULT_MAX = 16 * 1024  # ... and an array item's with its item-finished line
ITEM_BUDGET = 4 * 1024 * 1024  # bytes of items' results pushed per LOG_WINDOW, at most

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE_SELF = 0x00000400
IN_IGNORED = 0x00008000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


def is_status_name(name: str) -> bool:
    """``status`` or ``status.N``: the files the runner and the job script append to."""
    if name == "status":
        return True
    prefix, dot, rest = name.partition(".")
    return prefix == "status" and dot == "." and rest.isdigit()


def check_dir(roots: list[str], path: str) -> str:
    """The reason ``path`` is refused ('' when it is a job dir under one of ``roots``)."""
    if not path.startswith("/"):
        return "not an absolute path"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "control characters in the path"
    if os.path.normpath(path) != path:
        return "not a normalised path (no '.', '..', '//' or trailing '/')"
    parent, name = os.path.split(path)
    if parent not in roots or name in ("", ".", ".."):
        return "not a job directory directly under " + " or ".join(roots)
    return ""


def read_small(path: str, limit: int) -> bytes | None:
    """A regular file's bytes when it has at most ``limit`` of them, else None."""
    fd = open_regular(path)
    if fd is None:
        return None
    try:
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    return data if len(data) <= limit else None


def is_log_name(name: str) -> bool:
    """``stdout``, ``stderr`` or ``stdout.N`` / ``stderr.N``: the job's logs."""
    prefix, dot, rest = name.partition(".")
    return prefix in ("stdout", "stderr") and (not dot or _is_count(rest))


def _is_count(text: str) -> bool:
    """ASCII digits that fit a file offset (str.isdigit also takes '²', which int() does
    not, and lseek takes no offset past 2**63)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def open_regular(path: str) -> int | None:
    """A read-only descriptor of ``path`` if it is a regular file (not a link, a FIFO, a
    device: O_NONBLOCK so a FIFO named like a job file never waits for a writer)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


class Inotify:
    """inotify_init1 / add_watch / rm_watch through ctypes (None when unavailable)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._rm = libc.inotify_rm_watch
        self._rm.argtypes = [ctypes.c_int, ctypes.c_int]
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")

    def add(self, path: str) -> int:
        mask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF
        wd = self._add(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch failed")
        return int(wd)

    def remove(self, wd: int) -> None:
        self._rm(self.fd, wd)

    def read(self) -> list[tuple[int, int, str]]:
        """``[(wd, mask, name)]`` of what happened since the last read."""
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return []
            raise
        out: list[tuple[int, int, str]] = []
        pos = 0
        while pos + _EVENT.size <= len(data):
            wd, mask, _cookie, size = _EVENT.unpack_from(data, pos)
            name = data[pos + _EVENT.size : pos + _EVENT.size + size].rstrip(b"\0")
            out.append((wd, mask, os.fsdecode(name)))
            pos += _EVENT.size + size
        return out


class Followed:
    """One watched job dir: how far each of its status files was read."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offsets: dict[str, int] = {}  # file name -> bytes already sent (complete lines)
        self.wd: int | None = None
        self.dir_mtime: int | None = None
        self.watched = False  # its status files are followed (``watch``)
        self.logs: dict[str, int | None] = {}  # followed log -> next offset (None: paused)
        self.window = 0.0  # when the current LOG_WINDOW began
        self.sent = 0  # log bytes sent in it


class Agent:
    def __init__(self, roots: list[str], out: IO[str]) -> None:
        self.roots = roots
        self.out = out
        self.dirs: dict[str, Followed] = {}
        self.by_wd: dict[int, Followed] = {}
        self.item_window, self.item_bytes = 0.0, 0  # items' results pushed this window
        self.inotify: Inotify | None
        try:
            if os.environ.get(STAT_ONLY_VAR) == "1":
                raise OSError(errno.ENOSYS, STAT_ONLY_VAR + "=1")
            self.inotify = Inotify()
        except (OSError, AttributeError):  # no inotify (not Linux, or seccomp): stat loop
            self.inotify = None

    def emit(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record) + "\n")

    def command(self, text: str) -> None:
        verb, _, rest = text.partition(" ")
        path, log, offset = rest, "", 0
        if verb in ("follow", "unfollow"):
            parts = rest.rsplit(" ", 2 if verb == "follow" else 1)
            if len(parts) != (3 if verb == "follow" else 2):
                self.emit(
                    {
                        "refused": text[:200],
                        "why": f"{verb} needs DIR LOG" + (" OFFSET" if verb == "follow" else ""),
                    }
                )
                return
            path, log = parts[0], parts[1]
            if not is_log_name(log):
                self.emit(
                    {
                        "refused": text[:200],
                        "why": "LOG must be stdout, stderr, stdout.N or stderr.N",
                    }
                )
                return
            if verb == "follow":
                if not _is_count(parts[2]):
                    self.emit({"refused": text[:200], "why": "OFFSET must be a byte count"})
                    return
                offset = int(parts[2])
        elif verb not in ("watch", "unwatch"):
            self.emit(
                {
                    "refused": text[:200],
                    "why": "unknown command (watch DIR, unwatch DIR, follow DIR LOG OFFSET, "
                    "unfollow DIR LOG)",
                }
            )
            return
        why = check_dir(self.roots, path)
        if why:
            self.emit({"refused": text[:200], "why": why})
            return
        if verb in ("unwatch", "unfollow"):
            followed = self.dirs.get(path)
            if followed is None:
                return
            if verb == "unwatch":
                followed.watched = False
            else:
                followed.logs.pop(log, None)
            if not followed.watched and not followed.logs:
                self.forget(followed)
            return
        followed = self.dirs.get(path) or self.add(path)
        self.ensure_wd(followed)
        if verb == "follow":
            followed.logs[log] = offset
            self.read_log(followed, log)
        elif not followed.watched:
            followed.watched = True
            self.scan(followed, listing=True)

    def add(self, path: str) -> Followed:
        followed = self.dirs[path] = Followed(path)
        self.ensure_wd(followed)
        return followed

    def ensure_wd(self, followed: Followed) -> None:
        """Watch the dir with inotify if not yet: a dir followed before it exists (a job
        followed while it is being submitted) is watched once it does, not left to the
        slow sweeps."""
        if self.inotify is None or followed.wd is not None:
            return
        try:
            followed.wd = self.inotify.add(followed.path)
            self.by_wd[followed.wd] = followed
        except OSError:  # not there yet, or out of watches: the sweeps still see it
            followed.wd = None

    def forget(self, followed: Followed) -> None:
        self.dirs.pop(followed.path, None)
        if followed.wd is not None and self.inotify:
            self.by_wd.pop(followed.wd, None)
            self.inotify.remove(followed.wd)

    def read_log(self, followed: Followed, name: str) -> None:
        """Send what a followed log gained, within the dir's budget for this window."""
        offset = followed.logs.get(name)
        if offset is None:  # paused: the kernel reads the rest and says where to go on
            return
        now = time.monotonic()
        if now - followed.window >= LOG_WINDOW:
            followed.window, followed.sent = now, 0
        budget = LOG_CAP - followed.sent
        if budget <= 0:  # spent: the window's end (run's loop) reads it again
            return
        fd = open_regular(os.path.join(followed.path, name))
        if fd is None:
            return
        try:
            waiting = os.fstat(fd).st_size - offset
            if waiting <= 0:
                return
            os.lseek(fd, offset, os.SEEK_SET)
            data = os.read(fd, min(waiting, budget))
        finally:
            os.close(fd)
        if not data:
            return
        followed.sent += len(data)
        more = len(data) < waiting
        followed.logs[name] = None if more else offset + len(data)
        self.emit(
            {
                "dir": followed.path,
                "log": name,
                "offset": offset,
                "data": base64.b64encode(data).decode("ascii"),
                "more": more,
            }
        )

    def read_logs(self, followed: Followed) -> None:
        for name in list(followed.logs):
            self.read_log(followed, name)

    def throttled_until(self) -> float | None:
        """When the earliest spent log budget renews (None: none is spent)."""
        ends = [
            f.window + LOG_WINDOW
            for f in self.dirs.values()
            if f.sent >= LOG_CAP and any(o is not None for o in f.logs.values())
        ]
        return min(ends) if ends else None

    def scan(self, followed: Followed, listing: bool = False) -> None:
        """Send the new complete lines of the dir's status files (and its followed logs)."""
        self.read_logs(followed)
        if not followed.watched:
            return
        if listing:
            try:
                st = os.stat(followed.path)
            except OSError:
                return
            if st.st_mtime_ns != followed.dir_mtime:  # a file may have been created
                followed.dir_mtime = st.st_mtime_ns
                try:
                    for name in os.listdir(followed.path):
                        if is_status_name(name):
                            followed.offsets.setdefault(name, 0)
                except OSError:
                    return
        for name, offset in list(followed.offsets.items()):
            self.read_new(followed, name, offset)

    def read_new(self, followed: Followed, name: str, offset: int) -> None:
        fd = open_regular(os.path.join(followed.path, name))
        if fd is None:  # missing, or a FIFO, a directory, a device: not ours
            return
        try:
            size = os.fstat(fd).st_size
            if size <= offset:
                return
            os.lseek(fd, offset, os.SEEK_SET)
            data = os.read(fd, min(size - offset, 8 * MAX_LINE))
        finally:
            os.close(fd)
        pos = 0
        while True:
            end = data.find(b"\n", pos)
            if end < 0:
                if len(data) - pos > MAX_LINE:  # garbage without newlines: skip it
                    pos = len(data)
                break
            line = data[pos:end]
            if len(line) <= MAX_LINE:
                if name == "status" and line.startswith(b'{"event": "finished"'):
                    self.emit_end(followed)  # first: the kernel settles on the line
                elif line.startswith(b'{"event": "item-finished"'):
                    self.emit_item(followed.path, line)
                self.emit(
                    {
                        "dir": followed.path,
                        "file": name,
                        "offset": offset + pos,
                        "line": line.decode("utf-8", "replace"),
                    }
                )
            pos = end + 1
        followed.offsets[name] = offset + pos

    def emit_item(self, path: str, line: bytes) -> None:
        """An array item's small result, before its ``item-finished`` line (as emit_end);
        at most ITEM_BUDGET bytes a LOG_WINDOW (a reattached map's replay of 100,000
        lines), past which the kernel reads them as it did before."""
        try:
            index = json.loads(line).get("index")
        except ValueError:
            return
        if type(index) is not int or index < 0:
            return
        now = time.monotonic()
        if now - self.item_window >= LOG_WINDOW:
            self.item_window, self.item_bytes = now, 0
        data = read_small(os.path.join(path, "results", f"{index}.pkl"), ITEM_RESULT_MAX)
        if data is not None and self.item_bytes + len(data) <= ITEM_BUDGET:
            self.item_bytes += len(data)
            self.emit({"dir": path, "item": index, "result": base64.b64encode(data).decode()})

    def emit_end(self, followed: Followed) -> None:
        """Before a job's ``finished`` line: its followed logs' new bytes, their sizes and
        a small result (renamed into place before that line), so the kernel needs no
        round trip to end the job; it checks the result against the line's sha256."""
        self.read_logs(followed)
        path, sizes = followed.path, {}
        for name in ("stdout", "stderr"):
            with contextlib.suppress(OSError):
                sizes[name] = os.stat(os.path.join(path, name)).st_size
        record: dict[str, Any] = {"dir": path, "end": 1, "sizes": sizes}
        data = read_small(os.path.join(path, "result.pkl"), RESULT_MAX)
        if data is not None:
            record["result"] = base64.b64encode(data).decode()
        self.emit(record)

    def sweep(self) -> None:
        for followed in list(self.dirs.values()):
            self.ensure_wd(followed)
            self.scan(followed, listing=True)

    def events(self) -> None:
        assert self.inotify is not None
        for wd, mask, name in self.inotify.read():
            followed = self.by_wd.get(wd)
            if followed is None:
                continue
            if mask & (IN_DELETE_SELF | IN_IGNORED):
                self.by_wd.pop(wd, None)
                followed.wd = None
                continue
            if followed.watched and is_status_name(name):
                offset = followed.offsets.setdefault(name, 0)
                self.read_new(followed, name, offset)
            elif name in followed.logs:
                self.read_log(followed, name)

    def run(self, stdin_fd: int) -> int:
        rescan = float(os.environ.get(RESCAN_VAR) or RESCAN_INTERVAL)
        self.emit({"agent": VERSION, "pid": os.getpid(), "inotify": self.inotify is not None})
        self.out.flush()
        pending = b""
        last_sweep = time.monotonic()
        while True:
            if self.inotify is not None:
                interval = rescan
            else:
                interval = STAT_INTERVAL + STAT_PER_FILE * len(self.dirs)
            wake = last_sweep + interval
            renews = self.throttled_until()
            if renews is not None:  # a spent log budget renews before the next sweep
                wake = min(wake, renews)
            wait = max(0.0, wake - time.monotonic())
            fds = [stdin_fd] + ([self.inotify.fd] if self.inotify is not None else [])
            try:
                ready, _, _ = select.select(fds, [], [], wait)
            except InterruptedError:
                ready = []
            if stdin_fd in ready:
                chunk = os.read(stdin_fd, 1 << 16)
                if not chunk:  # the kernel (or its connection) is gone: so are we
                    return 0
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    self.command(raw.decode("utf-8", "replace").rstrip("\r"))
                if len(pending) > 1 << 16:
                    self.emit({"refused": "(a line too long)", "why": "commands are one line"})
                    pending = b""
            if self.inotify is not None and self.inotify.fd in ready:
                self.events()
            if time.monotonic() - last_sweep >= interval:
                self.sweep()
                last_sweep = time.monotonic()
            elif renews is not None and time.monotonic() >= renews:
                for followed in list(self.dirs.values()):
                    if followed.sent >= LOG_CAP:
                        self.read_logs(followed)
            self.out.flush()


def main(argv: list[str]) -> int:
    roots = argv[1:]
    if not roots or any(r == "/" or check_dir([os.path.dirname(r)], r) for r in roots):
        sys.stderr.write("usage: agent.py JOBS_ROOT... (absolute, normalised paths)\n")
        return 2
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # the reader left: end quietly
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        return Agent(roots, sys.stdout).run(sys.stdin.fileno())
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
