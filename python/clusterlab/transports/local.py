"""Commands on this machine: JupyterLab runs where jobs are submitted (e.g. a login node)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..common.errors import TransportError
from .base import MAX_RANGE, CommandResult, Transport, check_range, timeout_message
from .stream import LocalStream, Stream


def run_process(
    argv: Sequence[str],
    stdin: bytes | None,
    timeout: float | None,
    label: str,
    shown: Sequence[str],
) -> CommandResult:
    """Run ``argv`` in its own session (a command given up is stopped with its children);
    past ``timeout`` it is killed and TransportError names ``shown`` (what the caller
    asked to run, e.g. the remote command an ``ssh`` process carries)."""
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin or b"", timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TransportError(timeout_message(label, shown, timeout or 0)) from None
    return CommandResult(proc.returncode, out, err)


class LocalTransport(Transport):
    """``subprocess.run`` with an argv list, never through a shell."""

    label = "local"

    def _run(
        self, argv: Sequence[str], stdin: bytes | None, timeout: float | None
    ) -> CommandResult:
        try:
            return run_process(argv, stdin, timeout, self.label, argv)
        except FileNotFoundError as exc:
            return CommandResult(127, b"", f"{argv[0]}: command not found ({exc})".encode())

    def open_stream(self, argv: Sequence[str]) -> Stream:
        """A subprocess in its own session, talking in lines over pipes."""
        return LocalStream(argv)

    def read_ranges(
        self, ranges: Sequence[tuple[str, int, int | None]], limit: int | None = MAX_RANGE
    ) -> list[tuple[int, bytes] | None]:
        """Seek and read, without a process (same contract as the shell version)."""
        if not ranges:
            return []
        for _, start, end in ranges:
            check_range(start, end)
        self._count_round_trip()
        out: list[tuple[int, bytes] | None] = []
        for path, start, end in ranges:
            try:
                with open(path, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    fh.seek(start)
                    count = -1 if end is None else end - start
                    if limit is not None:
                        count = limit if count < 0 else min(count, limit)
                    out.append((size, fh.read(count)))
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                out.append(None)
        return out

    def read_files(self, paths: Sequence[str]) -> dict[str, bytes | None]:
        """Read them directly: on this machine a tar process (and gzip) would only add
        work, e.g. for the 10,000 result files of a big map."""
        if not paths:
            return {}
        self._count_round_trip()
        out: dict[str, bytes | None] = {}
        for path in paths:
            try:
                out[path] = Path(path).read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                out[path] = None
        return out
