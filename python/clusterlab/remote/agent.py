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
- stdout: ``{"agent": 1, "pid": N, "inotify": bool}`` once ready;
  ``{"dir": D, "file": "status" | "status.N", "offset": O, "line": TEXT}`` per new
  complete status line (``O``: its byte offset; a watch starts at offset 0, so the kernel
  gets the whole file first); ``{"refused": TEXT, "why": ...}`` for a bad command.

Change detection: inotify (through ctypes) where the kernel has it, with a slow rescan
behind it (a file system shared with compute nodes does not tell inotify about writes
made on other machines); else a stat loop every ~50 ms.
"""

from __future__ import annotations

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
MAX_LINE = 1 << 20  # a "line" longer than this is not a status record: skipped

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


class Agent:
    def __init__(self, roots: list[str], out: IO[str]) -> None:
        self.roots = roots
        self.out = out
        self.dirs: dict[str, Followed] = {}
        self.by_wd: dict[int, Followed] = {}
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
        verb, _, path = text.partition(" ")
        if verb not in ("watch", "unwatch"):
            self.emit({"refused": text[:200], "why": "unknown command (watch DIR, unwatch DIR)"})
            return
        why = check_dir(self.roots, path)
        if why:
            self.emit({"refused": text[:200], "why": why})
            return
        if verb == "unwatch":
            followed = self.dirs.pop(path, None)
            if followed is not None and followed.wd is not None and self.inotify:
                self.by_wd.pop(followed.wd, None)
                self.inotify.remove(followed.wd)
            return
        if path in self.dirs:
            return
        followed = self.dirs[path] = Followed(path)
        if self.inotify is not None:
            try:
                followed.wd = self.inotify.add(path)
                self.by_wd[followed.wd] = followed
            except OSError:  # gone already, or out of watches: the sweeps still see it
                followed.wd = None
        self.scan(followed, listing=True)

    def scan(self, followed: Followed, listing: bool = False) -> None:
        """Send the new complete lines of the dir's status files."""
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
        path = os.path.join(followed.path, name)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:  # O_NONBLOCK: opening a FIFO named status.N must not wait for a writer
            fd = os.open(path, flags)
        except OSError:
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # a FIFO, a directory, a device: not ours
                return
            size = st.st_size
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

    def sweep(self) -> None:
        for followed in list(self.dirs.values()):
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
            if is_status_name(name):
                offset = followed.offsets.setdefault(name, 0)
                self.read_new(followed, name, offset)

    def run(self, stdin_fd: int) -> int:
        self.emit({"agent": VERSION, "pid": os.getpid(), "inotify": self.inotify is not None})
        self.out.flush()
        pending = b""
        last_sweep = time.monotonic()
        while True:
            if self.inotify is not None:
                interval = RESCAN_INTERVAL
            else:
                interval = STAT_INTERVAL + STAT_PER_FILE * len(self.dirs)
            wait = max(0.0, last_sweep + interval - time.monotonic())
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
