"""A full disk where the ledger lives (review defect: the row was written after the
scheduler accepted the job, so a full disk raised a raw sqlite error while the job ran
anyway). Now the row is written first, and a ledger that cannot be written means nothing
is submitted, with a sentence saying what to do. Needs root for a small tmpfs."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl


@pytest.fixture
def full_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data = tmp_path / "full"
    data.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(data)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        monkeypatch.setenv("CLUSTERLAB_DATA_DIR", str(data))
        cl.jobs()  # the ledger exists, as it would on a machine that used clusterlab before
        with contextlib.suppress(OSError), open(data / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def test_a_full_disk_under_the_ledger_submits_nothing(full_data_dir: Path, tmp_path: Path) -> None:
    jobs_dir = tmp_path / "elsewhere"  # job dirs on a disk with room: only the ledger is full
    cl.profiles.save(cl.Profile(name="fd", scheduler="local", remote_dir=str(jobs_dir)))
    marker = tmp_path / "ran"

    def touch() -> None:
        marker.touch()

    with pytest.raises(cl.SubmitError, match=r"could not record the job.*nothing was submitted"):
        cl.cluster("fd")(touch).submit()
    assert not marker.exists()
    assert not list(jobs_dir.glob("jobs/*"))  # nothing was even staged
