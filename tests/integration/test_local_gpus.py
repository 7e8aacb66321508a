"""The local scheduler hands out this machine's GPUs, one job per GPU, and refuses what it
cannot meet. This machine has no GPU: a stand-in ``nvidia-smi`` script on PATH (it only
answers ``-L``, listing two GPUs) is what the backend asks, as it asks the real one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import clusterlab as cl

pytestmark = pytest.mark.timeout(180)

STANDIN = """#!/bin/sh
# stand-in for nvidia-smi in tests: lists two GPUs for -L, nothing else
[ "$1" = "-L" ] || exit 2
echo "GPU 0: Stand-in GPU (UUID: GPU-00000000-0000-0000-0000-000000000000)"
echo "GPU 1: Stand-in GPU (UUID: GPU-11111111-1111-1111-1111-111111111111)"
"""


@pytest.fixture
def two_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(STANDIN)
    (bin_dir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    cl.profiles.save(cl.Profile(name="gpubox", scheduler="local", max_concurrent=4))
    return "gpubox"


def _holds_until(gate: str) -> str:
    import os
    import time

    while not os.path.exists(gate):
        time.sleep(0.05)
    return os.environ["CUDA_VISIBLE_DEVICES"]


def _until(check: object, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_each_gpu_goes_to_one_job_at_a_time(two_gpus: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    f = cl.cluster(two_gpus, gpus=1)(_holds_until)
    first, second = f.submit(str(gate)), f.submit(str(gate))
    _until(lambda: first.running() and second.running(), "both GPU jobs to run")
    third = f.submit(str(gate))
    _until(lambda: "waiting for 1 free GPU (2 of 2 in use)" in third.reason, "the third to wait")
    assert third.state == cl.JobState.PENDING
    no_gpu = cl.cluster(two_gpus)(_holds_until).submit(str(gate))  # asks none, sees none
    gate.touch()
    assert sorted([first.result(timeout=60), second.result(timeout=60)]) == ["0", "1"]
    assert third.result(timeout=60) in ("0", "1")
    assert no_gpu.result(timeout=60) == ""
    both = cl.cluster(two_gpus, gpus="a100:2")(_holds_until).submit(str(gate))  # type: any
    assert both.result(timeout=60) == "0,1"


def test_a_request_larger_than_the_machine_is_refused(two_gpus: str) -> None:
    with pytest.raises(cl.SubmitError, match=r"gpus=3: this machine has 2 GPUs \(0, 1\): ask"):
        cl.cluster(two_gpus, gpus=3)(abs).submit(-1).result(timeout=60)


def test_gpus_on_a_machine_without_any_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no nvidia-smi here (nor a stand-in)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    cl.profiles.save(cl.Profile(name="cpubox", scheduler="local"))
    with pytest.raises(cl.SubmitError, match="gpus=1: this machine shows no GPU"):
        cl.cluster("cpubox", gpus=1)(abs).submit(-1).result(timeout=60)
    assert cl.cluster("cpubox")(abs).submit(-1).result(timeout=60) == 1  # CPUs: as before
