"""The staging and multi-file read scripts, run for real through /bin/sh."""

from __future__ import annotations

import stat
from pathlib import Path

from clusterlab.transports import LocalTransport


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
