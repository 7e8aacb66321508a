"""What a reattached job needs to be submitted again (core/submission/plans.py): saved
beside the ledger, private, read back as the same spec, and claimed by one process only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from clusterlab.backends.base import JobSpec
from clusterlab.config.attempts import AttemptPolicy
from clusterlab.config.resources import parse_resources
from clusterlab.core.submission import plans


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLUSTERLAB_DATA_DIR", str(tmp_path))
    return tmp_path


def _spec() -> JobSpec:
    return JobSpec(
        job_id="20260101-000000-abcdef",
        name="train",
        job_dir="/scratch/me/.clusterlab/jobs/20260101-000000-abcdef",
        resources=parse_resources({"cores": 2, "memory": "1GB", "tasks": 2, "time": "0:10:00"}),
        python=["python3", "-I"],
        setup=["module load python/3.11"],
        env={"OMP_NUM_THREADS": "2"},
        inputs=[("blobs/ab", "data.csv")],
        needs=["podman"],
        requeue_grace=60,
    )


def test_a_plan_reads_back_as_it_was_saved_and_is_private(data_dir: Path) -> None:
    retry_on_and_signal = AttemptPolicy(retries=2, retry_on=(OSError,), retry_backoff=0.5)
    plan = plans.Plan(_spec(), retry_on_and_signal, reruns=1, floor=1, causes={1: "rerun after"})
    plans.save("20260101-000000-abcdef", plan)
    back = plans.load("20260101-000000-abcdef")
    assert back is not None
    assert back.spec == plan.spec
    assert back.policy == AttemptPolicy(retries=2, retry_backoff=0.5)  # the runner has retry_on
    assert (back.reruns, back.requeues, back.floor, back.causes) == (1, 0, 1, {1: "rerun after"})
    saved = data_dir / "resubmit" / "20260101-000000-abcdef.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert plans.load("20260101-000000-ffffff") is None


def test_one_process_claims_each_end_and_drop_forgets_all(data_dir: Path) -> None:
    plans.save("j1", plans.Plan(_spec(), AttemptPolicy(retries=1)))
    assert plans.claim("j1", "123")
    assert not plans.claim("j1", "123")  # another process saw the same end: not it
    assert plans.claim("j1", "124")  # the next submission's end is a new claim
    plans.drop("j1")
    assert plans.load("j1") is None
    assert list((data_dir / "resubmit").iterdir()) == []
    with pytest.raises(ValueError, match="not a job id"):
        plans.claim("../x", "1")
