"""The staging and multi-file read scripts, run for real through /bin/sh."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from clusterlab.transports import LocalTransport, Transport


def test_stage_creates_private_dir_and_runs_inside(tmp_path: Path) -> None:
    t = LocalTransport()
    job_dir = tmp_path / "a dir with 'quotes' and $HOME" / "job"
    res = t.stage(
        str(job_dir),
        {"payload.pkl": b"\x00\x01binary", "job.sh": b"#!/bin/sh\necho hi\n"},
        then=["sh", "job.sh"],
        executable=["job.sh"],
    )
    assert res.returncode == 0 and res.out == "hi\n"
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((job_dir / "payload.pkl").stat().st_mode) == 0o600
    assert (job_dir / "payload.pkl").read_bytes() == b"\x00\x01binary"
    assert t.round_trips == 1


def test_read_many_files_in_one_round_trip(tmp_path: Path) -> None:
    t = LocalTransport()
    (tmp_path / "x y").write_bytes(b"line1\nline2\n\x00")
    (tmp_path / "empty").write_bytes(b"")
    paths = [str(tmp_path / "x y"), str(tmp_path / "missing"), str(tmp_path / "empty")]
    files = t.read_files(paths)
    assert files == {paths[0]: b"line1\nline2\n\x00", paths[1]: None, paths[2]: b""}
    assert t.round_trips == 1


def test_home_and_tilde_expansion() -> None:
    t = LocalTransport()
    assert t.expand("~/x") == str(Path.home()) + "/x"
    assert t.expand("/abs/~") == "/abs/~"


@pytest.mark.parametrize("through_shell", [True, False], ids=["sh script", "local"])
def test_read_one_part_of_a_file(tmp_path: Path, through_shell: bool) -> None:
    """One array item's share of its task's log: the shell script every remote transport
    runs (here through /bin/sh) and the local shortcut agree, byte for byte."""
    t = LocalTransport()
    ranges = Transport.read_ranges if through_shell else LocalTransport.read_ranges

    def read(path: str, start: int, end: int | None) -> bytes | None:
        got = ranges(t, [(path, start, end)], limit=None)[0]
        return None if got is None else got[1]

    log = tmp_path / "-stdout 'x' $HOME"
    data = b"".join(f"line {i}\n".encode() for i in range(1000)) + b"\x00\xff"
    log.write_bytes(data)
    assert read(str(log), 7, 21) == data[7:21]
    assert read(str(log), 0, 0) == b""
    assert read(str(log), 7000, None) == data[7000:]  # a running item: to the end
    assert read(str(log), len(data) + 5, None) == b""
    assert read(str(tmp_path / "missing"), 0, None) is None
    with pytest.raises(ValueError, match="0 <= start <= end"):
        read(str(log), 5, 2)
    assert t.round_trips == 5
    # several ranges in one trip, each with the file's size, at most `limit` bytes each
    many = ranges(t, [(str(log), 0, None), (str(tmp_path / "missing"), 0, None)], limit=10)
    assert many == [(len(data), data[:10]), None] and t.round_trips == 6
