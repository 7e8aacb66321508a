"""Long-lived commands that talk in lines: the status agent's pipe, whatever the transport.

A :class:`Stream` is what :meth:`Transport.open_stream` returns: write lines to the
command's stdin, iterate over the lines it prints, close it. Closing stdin is how the
remote side learns to exit, so nothing outlives the stream (or the SSH connection it
runs on).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import IO

from ..common.errors import TransportError

STDERR_KEPT = 4096  # bytes of the command's stderr kept to explain why it ended
MAX_LINE = 8 << 20  # a line the agent may print: 1 MiB of status text, JSON-escaped


def bounded_lines(readline: Callable[[int], bytes], limit: int = MAX_LINE) -> Iterator[bytes]:
    """Lines (without their newline), never holding more than ``limit`` bytes of one: a
    longer line (not the agent's; a runaway program's output) is skipped to its end. A
    last line cut short by the end of the stream is dropped (the command ended)."""
    skipping = False
    while line := readline(limit + 1):
        if not line.endswith(b"\n"):
            if len(line) <= limit:
                return
            skipping = True
            continue
        if skipping:
            skipping = False
            continue
        yield line[:-1]


class Stream(ABC):
    """A running command: lines in, lines out."""

    def __init__(self) -> None:
        self._stderr = bytearray()
        self._stderr_lock = threading.Lock()
        self._drainer: threading.Thread | None = None

    def _start_drain(self, target: Callable[..., None], *args: object) -> None:
        self._drainer = threading.Thread(
            target=target, args=args, name="clusterlab-stream-err", daemon=True
        )
        self._drainer.start()

    def _drained(self, timeout: float = 2.0) -> None:
        """Wait (a little) until stderr is read to its end, so it can explain an end."""
        if self._drainer is not None and self._drainer is not threading.current_thread():
            self._drainer.join(timeout)

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send ``data`` to the command's stdin (TransportError once it is gone)."""

    @abstractmethod
    def lines(self) -> Iterator[bytes]:
        """The command's stdout, line by line (without the newline), until it ends."""

    @abstractmethod
    def close(self) -> None:
        """Close stdin (the command exits) and release the channel or process."""

    def stderr_text(self) -> str:
        """The end of what the command wrote on stderr (why it stopped, if it said)."""
        with self._stderr_lock:
            return bytes(self._stderr).decode("utf-8", "replace").strip()

    def _keep_stderr(self, chunk: bytes) -> None:
        with self._stderr_lock:
            self._stderr += chunk
            del self._stderr[:-STDERR_KEPT]

    def _drain(self, read: IO[bytes]) -> None:
        for chunk in iter(lambda: read.read1(1 << 14), b""):  # type: ignore[attr-defined]
            self._keep_stderr(chunk)


class LocalStream(Stream):
    """A subprocess of this kernel (own session, so closing it ends what it started)."""

    def __init__(self, argv: Sequence[str]) -> None:
        super().__init__()
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError(f"local: could not start {argv[0]}: {exc}") from None
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self._start_drain(self._drain, self.proc.stderr)
        self.pid = self.proc.pid

    def write(self, data: bytes) -> None:
        assert self.proc.stdin
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise TransportError(f"local: the command is gone ({exc})") from None

    def lines(self) -> Iterator[bytes]:
        assert self.proc.stdout
        yield from bounded_lines(self.proc.stdout.readline)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._drained()
        for pipe in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
