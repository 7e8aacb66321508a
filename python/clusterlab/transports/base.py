"""The transport interface and the small shell scripts every transport shares."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .tarread import read_plain_tar

if TYPE_CHECKING:
    from .stream import Stream

# Constant scripts: values arrive as "$1", "$2", ... never inside the script text.
# The submit command's answer (the scheduler's id) is also kept in the job dir as
# "submitted", so a kernel that dies before recording it leaves a job that can be found.
_STAGE = r"""
umask 077
dir=$1; shift
mkdir -p -- "$dir" && chmod 700 -- "$dir" && tar -x -f - -C "$dir" || exit 97
cd -- "$dir" || exit 97
if [ "$#" -gt 0 ]; then
  "$@" > .submitted.tmp
  code=$?
  cat .submitted.tmp
  if [ "$code" -eq 0 ]; then mv -f .submitted.tmp submitted; else rm -f .submitted.tmp; fi
  exit "$code"
fi
"""

# Many files in one round trip and one process: a tar stream of those that exist. The
# paths come on stdin, one per line (thousands of result files would overflow argv); none
# starts with "-", so tar cannot take one for an option.
_READ_FILES = r"""
while IFS= read -r f; do
  if [ -f "$f" ]; then printf '%s\n' "$f"; fi
done | tar -cP"$1"f - -T -
"""
# Byte ranges of many files (logs followed while a job runs, one array item's part of a
# task log): per input line "START COUNT PATH", a header "SIZE N" (N bytes follow; SIZE -1:
# no such file) then the bytes. `head -c` stops at N even if the file grows meanwhile.
_READ_RANGES = r"""
while IFS=' ' read -r start count f; do
  if [ ! -f "$f" ]; then printf -- '-1 0\n'; continue; fi
  size=$(wc -c < "$f")
  n=$((size - start)); [ "$n" -lt 0 ] && n=0; [ "$n" -gt "$count" ] && n=$count
  printf '%s %s\n' "$size" "$n"
  [ "$n" -gt 0 ] && tail -c +$((start + 1)) -- "$f" | head -c "$n"
done
"""
MAX_RANGE = 1 << 20  # bytes of one file per read: a chatty job is followed, not swallowed
_EVERYTHING = 1 << 62  # "to the end of the file" for the script's arithmetic
COMPRESS_FROM = 64  # files per read: thousands of tiny results are mostly tar padding

COMMAND_TIMEOUT = 120.0
"""Seconds a remote command may stay silent before it is given up with a sentence (a hung
file system or scheduler must never freeze a kernel's watcher). ``CLUSTERLAB_COMMAND_TIMEOUT``
overrides it; a caller that knows a command is long passes its own ``timeout``."""


def command_timeout() -> float:
    """The default timeout now (read at each call, so a test or a site can change it)."""
    text = os.environ.get("CLUSTERLAB_COMMAND_TIMEOUT", "")
    try:
        value = float(text) if text else COMMAND_TIMEOUT
    except ValueError:
        value = COMMAND_TIMEOUT
    return value if value > 0 else COMMAND_TIMEOUT


def timeout_message(label: str, argv: Sequence[str], timeout: float) -> str:
    """One sentence for a command that did not answer, whatever the transport."""
    return (
        f"{label}: `{argv[0]}` did not answer within {timeout:g} s (a hung file system, "
        "scheduler or network?); it is given up and retried later. Set "
        "CLUSTERLAB_COMMAND_TIMEOUT (seconds) if your cluster is this slow on purpose."
    )


@dataclass
class CommandResult:
    """What a command did; bytes, because job files may be binary."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


def make_tar(files: Mapping[str, bytes], executable: Sequence[str] = ()) -> bytes:
    """An in-memory tar of ``files`` with owner-only modes, for one-round-trip staging.

    A name ending in "/" is an empty directory.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            if name.endswith("/"):  # an (empty) directory
                info.type, info.mode = tarfile.DIRTYPE, 0o700
                tar.addfile(info)
                continue
            info.size = len(data)
            info.mode = 0o700 if name in executable else 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def check_range(start: int, end: int | None) -> None:
    """Offsets come from status files a job could write into: refuse nonsense plainly."""
    if (
        type(start) is not int
        or start < 0
        or (end is not None and (type(end) is not int or end < start))
    ):
        raise ValueError(f"a byte range needs 0 <= start <= end, not {start!r}..{end!r}")


def parse_files(blob: bytes) -> dict[str, bytes]:
    """The files of a tar stream made by ``_READ_FILES`` (absolute names kept)."""
    out: dict[str, bytes] = {}
    if not blob:
        return out
    fast = read_plain_tar(blob)  # plain files by slicing; anything else: tarfile
    if fast is not None:
        return fast
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        for member in tar:
            if not member.isreg():  # a link (tar keeps it a link): extractfile would look
                continue  # for its target in the archive and raise KeyError for all files
            fh = tar.extractfile(member)
            if fh is not None:
                out[member.name] = fh.read()
    return out


class Transport(ABC):
    """Runs argv lists on one machine. Thread-safe; counts its round trips."""

    label: str = "transport"

    def __init__(self) -> None:
        self.round_trips = 0
        self._home: str | None = None
        self._count_lock = threading.Lock()

    @abstractmethod
    def _run(
        self, argv: Sequence[str], stdin: bytes | None, timeout: float | None
    ) -> CommandResult:
        """Run one command; implementations never go through a local shell."""

    def run(
        self, argv: Sequence[str], stdin: bytes | None = None, timeout: float | None = None
    ) -> CommandResult:
        """Run ``argv`` on the target (one round trip). It may stay silent at most
        ``timeout`` seconds (default :func:`command_timeout`); then TransportError."""
        self._count_round_trip()
        return self._run(list(argv), stdin, command_timeout() if timeout is None else timeout)

    def _count_round_trip(self) -> None:
        with self._count_lock:
            self.round_trips += 1

    def script(self, script: str, *args: str, stdin: bytes | None = None) -> CommandResult:
        """Run a constant POSIX ``sh`` script with ``args`` as $1.. (the safe way to compose)."""
        return self.run(["sh", "-c", script, "sh", *args], stdin=stdin)

    def home(self) -> str:
        """The login user's home directory on the target (cached)."""
        if self._home is None:
            res = self.run(["sh", "-c", 'printf %s "$HOME"'])
            if res.returncode != 0 or not res.out.startswith("/"):
                from ..common.errors import TransportError

                raise TransportError(f"{self.label}: could not find the home directory: {res.err}")
            self._home = res.out
        return self._home

    def expand(self, path: str) -> str:
        """Expand a leading ``~`` the way the remote shell would (values are never unquoted)."""
        if path == "~":
            return self.home()
        if path.startswith("~/"):
            return self.home().rstrip("/") + path[1:]
        return path

    def stage(
        self,
        directory: str,
        files: Mapping[str, bytes],
        then: Sequence[str] = (),
        executable: Sequence[str] = (),
    ) -> CommandResult:
        """Create ``directory`` (0700), write ``files`` and run ``then`` inside it: one trip."""
        return self.script(_STAGE, directory, *then, stdin=make_tar(files, executable))

    def read_files(self, paths: Sequence[str]) -> dict[str, bytes | None]:
        """Many small files in one round trip; a missing file maps to None."""
        if not paths:
            return {}
        if any("\n" in p or p.startswith("-") for p in paths):
            raise ValueError(f"job file paths cannot hold newlines or start with '-': {paths}")
        flag = "z" if len(paths) >= COMPRESS_FROM else ""
        res = self.script(_READ_FILES, flag, stdin="".join(f"{p}\n" for p in paths).encode())
        # tar exits 1 when a file grew while it was read (a log): the archive is still whole
        if res.returncode not in (0, 1):
            from ..common.errors import TransportError

            raise TransportError(f"{self.label}: reading job files failed: {res.err.strip()}")
        found = parse_files(res.stdout)
        return {p: found.get(p) for p in paths}

    def read_ranges(
        self, ranges: Sequence[tuple[str, int, int | None]], limit: int | None = MAX_RANGE
    ) -> list[tuple[int, bytes] | None]:
        """``(path, start, end)`` byte ranges of many files in one round trip (``end``
        None: to the end of the file), each at most ``limit`` bytes (None: no limit): for
        each range ``(the file's size now, the bytes)``, None for a missing file."""
        if not ranges:
            return []
        lines = []
        for path, start, end in ranges:
            check_range(start, end)
            if "\n" in path or path.startswith("-"):
                raise ValueError(f"job file paths cannot hold newlines or start with '-': {path}")
            count = _EVERYTHING if end is None else end - start
            lines.append(f"{start} {count if limit is None else min(count, limit)} {path}\n")
        res = self.script(_READ_RANGES, stdin="".join(lines).encode())
        out: list[tuple[int, bytes] | None] = []
        blob, pos = res.stdout, 0
        for _ in ranges:
            eol = blob.find(b"\n", pos)
            if eol < 0:
                from ..common.errors import TransportError

                raise TransportError(f"{self.label}: reading job files failed: {res.err.strip()}")
            size, n = (int(x) for x in blob[pos:eol].split())
            out.append(None if size < 0 else (size, blob[eol + 1 : eol + 1 + n]))
            pos = eol + 1 + n
        return out

    def read_range(self, path: str, start: int = 0, end: int | None = None) -> bytes | None:
        """Bytes ``start`` up to ``end`` (None: to the end) of one file, in one round trip
        (one array item's share of its task's log); None when it does not exist (yet)."""
        got = self.read_ranges([(path, start, end)], limit=None)[0]
        return None if got is None else got[1]

    def open_stream(self, argv: Sequence[str]) -> Stream:
        """Start ``argv`` as a long-lived command that talks in lines (the status agent);
        it ends when the stream is closed. TransportError where that cannot be done. Not
        counted in ``round_trips`` (one per runtime, not per job or poll)."""
        from ..common.errors import TransportError

        raise TransportError(f"{self.label}: long-lived commands are not supported")

    def close(self) -> None:  # noqa: B027 - optional hook; local has nothing to close
        """Release connections; the next command reconnects."""
