"""The local scheduler hands out this machine's GPUs, one job per GPU, and refuses what it
cannot meet; a job's usage says what its GPUs held and how busy they were. This machine
has no GPU: a stand-in ``nvidia-smi`` script on PATH (it answers ``-L``, listing two GPUs,
and the usage query: GPU I holds (I+1) x 1024 MiB and is 40 + 20 x I % busy) is what the
backend and the runner ask, as they ask the real one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import clusterlab as cl

pytestmark = pytest.mark.timeout(180)

STANDIN = """#!/bin/sh
# stand-in for nvidia-smi in tests: lists two GPUs for -L; answers the runner's usage
# query for the GPUs of --id=... (and leaves each query's arguments in queries.log)
here=$(dirname "$0")
if [ "$1" = "-L" ]; then
    echo "GPU 0: Stand-in GPU (UUID: GPU-00000000-0000-0000-0000-000000000000)"
    echo "GPU 1: Stand-in GPU (UUID: GPU-11111111-1111-1111-1111-111111111111)"
    exit 0
fi
[ "$1" = "--query-gpu=memory.used,utilization.gpu" ] || exit 2
[ "$2" = "--format=csv,noheader,nounits" ] || exit 2
echo "$*" >> "$here/queries.log"
for id in $(echo "${3#--id=}" | tr ',' ' '); do
    case $id in
        0) echo "1024, 40" ;;
        1) echo "2048, 60" ;;
        *) echo "No devices were found" >&2; exit 6 ;;
    esac
done
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


def _until_sampled(log: str) -> str:
    """Runs until the runner has asked nvidia-smi about its GPUs (so the sample falls while
    the function runs, whatever the machine's speed)."""
    import os
    import time

    while not os.path.exists(log):
        time.sleep(0.05)
    return os.environ["CUDA_VISIBLE_DEVICES"]


def test_usage_has_the_gpus_peak_memory_and_mean_utilisation(two_gpus: str, tmp_path: Path) -> None:
    log = tmp_path / "bin" / "queries.log"
    job = cl.cluster(two_gpus, gpus=2)(_until_sampled).submit(str(log))
    assert job.result(timeout=60) == "0,1"
    used = job.usage
    assert used is not None and used.gpus == 2
    assert used.gpu_memory == 2 * 1024**3  # the fuller of its two GPUs
    assert used.gpu_utilization == pytest.approx(0.5)  # (40% + 60%) / 2
    assert job.efficiency().gpu == pytest.approx(0.5)
    assert "GPU (2) peak 2 GB, 50% busy" in str(used)  # the panel, monitor and CLI text
    assert "--id=0,1" in log.read_text()  # its own GPUs, not the machine's
    record = next(r for r in cl.jobs() if r.id == job.id)
    assert record.usage == used  # kept in the ledger (the CLI and panel read it there)


def test_a_job_without_gpus_samples_none(two_gpus: str, tmp_path: Path) -> None:
    job = cl.cluster(two_gpus)(abs).submit(-2)  # asks no GPU: CUDA_VISIBLE_DEVICES is empty
    assert job.result(timeout=60) == 2
    assert job.usage is not None and job.usage.gpus == 0 and job.usage.gpu_memory is None
    assert job.efficiency().gpu is None and "GPU" not in str(job.usage)
    assert not (tmp_path / "bin" / "queries.log").exists()  # nvidia-smi was never asked
    assert "nvidia-smi" not in job.stderr()
