"""A pod's log back into the kernel's copy of its job directory.

``remote/k8s_entry.py`` prints what the runner writes as frames (``@cl1 NAME OFFSET
BASE64`` and ``@cl1 NAME = SIZE`` for a complete result file). This module puts the
pieces back at their offsets, so reading the same log twice, or an overlapping part of it
(a live read with ``sinceSeconds``), writes the same bytes again and nothing else. The
kernel then reads status, output and results from its own disk, as with every scheduler.

Two rules keep the copy honest:

- a result file is written whole (temp file + rename) or not at all;
- a status line announcing a result ("finished", "item-finished") is written only once
  that result is here, so the kernel never settles a job whose result has not arrived. A
  read that lacks it (a live read that began after the result's frames) says ``gap`` and
  the backend reads the whole log next time.

What cannot be had is said, not invented: bytes that rotated out of the pod's log (the
kubelet keeps ``containerLogMaxSize``, 10 MiB by default) become a gap of newlines.

The log is written by code in a pod, so every frame is bounded before anything is
allocated: a result of at most :data:`MAX_RESULT` bytes (the entry sends at most 3 MiB),
a file offset of at most :data:`MAX_STREAM` (the entry caps output at 2 MiB), numbers of
at most 19 digits. A frame past a bound is dropped and counted in ``LogRead.refused``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field

from ..common import jobdir

MAGIC = b"@cl1 "
_NAME = re.compile(r"^(?:(?:status|stdout|stderr)(?:\.\d+)?|result\.pkl|results/\d+\.pkl)\Z")
_RESULT = re.compile(r"^(?:result\.pkl|results/\d+\.pkl)\Z")
_NUMBER = re.compile(r"^[0-9]{1,19}\Z")  # int() of a longer string raises; and no file is
MAX_RESULT = 4 * 1024 * 1024  # bytes of one result file (remote/k8s_entry.py: 3 MiB)
MAX_STREAM = 64 * 1024 * 1024  # where a status/output file may end (the entry caps at 2 MiB)
_FILL = 1024 * 1024  # newlines written at a time for a gap


@dataclass
class LogRead:
    """What one read of a pod's log brought."""

    ended: bool = False  # the entry's last frame ("@cl1 . = CODE") was in it
    code: int | None = None  # the runner's exit code, from that frame
    gap: bool = False  # something could not be placed: read the whole log next time
    written: int = 0  # bytes written to the job dir
    refused: int = 0  # frames past a bound (a forged or broken log), dropped
    pieces: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def parse_frames(log: bytes) -> LogRead:
    """The frames of a log, in order; lines that are not frames are ignored."""
    read = LogRead()
    for line in log.splitlines():
        if not line.startswith(MAGIC):
            continue
        parts = line.decode("ascii", "replace").split(" ")
        if len(parts) != 4:
            continue
        _, name, where, body = parts
        if name == "." and where == "=":
            digits = _NUMBER.match(body.removeprefix("-"))
            read.ended, read.code = True, int(body) if digits else None
        elif not _NAME.match(name):
            continue
        elif where == "=" and _NUMBER.match(body):
            if int(body) > MAX_RESULT or not _RESULT.match(name):
                read.refused += 1
                continue
            read.sizes[name] = int(body)
        elif _NUMBER.match(where):
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                read.gap = True
                continue
            limit = MAX_RESULT if _RESULT.match(name) else MAX_STREAM
            if int(where) + len(data) > limit:
                read.refused += 1
                continue
            read.pieces.setdefault(name, []).append((int(where), data))
        elif where.isdigit() or (where == "=" and body.isdigit()):
            read.refused += 1
    return read


def file_size(path: str) -> int:
    """Bytes in ``path`` (0 when it does not exist yet)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _write_at(path: str, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def _result_of(line: bytes, name: str) -> str | None:
    """The result file a status line announces (relative to the job dir), if any."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    if record.get("event") == jobdir.FINISHED and "." not in name:
        return jobdir.RESULT
    if record.get("event") == jobdir.ITEM_FINISHED and isinstance(record.get("index"), int):
        return jobdir.item_result(record["index"])
    return None


def _place(
    job_dir: str, name: str, pieces: list[tuple[int, bytes]], read: LogRead, full: bool
) -> None:
    """Append ``pieces`` of stream file ``name`` where they belong."""
    path = os.path.join(job_dir, name)
    for offset, data in sorted(pieces, key=lambda p: p[0]):
        have = file_size(path)
        if offset > have:
            if not full:
                read.gap = True
                return
            while have < offset:  # rotated out of the pod's log; written a MiB at a time
                step = min(_FILL, offset - have)
                _write_at(path, have, b"\n" * step)
                have += step
        new = data[have - offset :]
        if not new:
            continue
        if name.startswith(jobdir.STATUS):
            lines = new.splitlines(keepends=True)
            keep = b""
            for line in lines:
                rel = _result_of(line, name)
                if rel and not full and not os.path.exists(os.path.join(job_dir, rel)):
                    read.gap = True
                    break
                keep += line
            if keep:
                _write_at(path, have, keep)
                read.written += len(keep)
            if len(keep) < len(new):
                return
        else:
            _write_at(path, have, new)
            read.written += len(new)


def apply_log(job_dir: str, log: bytes, full: bool) -> LogRead:
    """Put what ``log`` (all of a pod's log when ``full``) carries into ``job_dir``."""
    read = parse_frames(log)
    if not os.path.isdir(job_dir):
        return read
    for name, size in read.sizes.items():  # results first: status lines wait for them
        pieces = read.pieces.get(name, [])
        data = bytearray(size)
        covered = 0
        for offset, chunk in sorted(pieces, key=lambda p: p[0]):
            if offset != covered or offset + len(chunk) > size:
                break
            data[offset : offset + len(chunk)] = chunk
            covered += len(chunk)
        path = os.path.join(job_dir, name)
        if covered != size:
            read.gap = True
            continue
        if os.path.exists(path) and file_size(path) == size:
            continue
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.mirror.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        read.written += size
    for name, pieces in read.pieces.items():
        if not _RESULT.match(name):
            _place(job_dir, name, pieces, read, full)
    return read
