"""A job's name reaches the batch script and the scheduler's command line: whatever a user
types there is data, never a command or a directive (review defect: a name with a newline
ran `touch` and added `#SBATCH` lines)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clusterlab as cl
from clusterlab.backends.base import ArraySpec, Backend, JobSpec
from clusterlab.backends.local import LocalBackend
from clusterlab.backends.pbs import PbsBackend
from clusterlab.backends.slurm import SlurmBackend
from clusterlab.config.resources import parse_resources
from clusterlab.transports import LocalTransport

HOSTILE = [
    "x\ntouch pwned #",
    "x\n#SBATCH --uid=0",
    "x\r\ntouch pwned",
    "$(touch pwned)",
    "`touch pwned`",
    "a; touch pwned",
    "x' && touch pwned '",
    'x" && touch pwned "',
    "x\0y",
    "\u2028touch pwned",
    "-" * 10_000,
]


def _backends() -> list[Backend]:
    transport = LocalTransport()
    return [
        SlurmBackend(cl.Profile(name="s", scheduler="slurm"), transport),
        PbsBackend(cl.Profile(name="p", scheduler="pbs"), transport),
        LocalBackend(cl.Profile(name="l", scheduler="local"), transport),
    ]


BACKENDS = _backends()


def _spec(job_dir: Path, name: str, array: bool) -> JobSpec:
    return JobSpec(
        job_id="20261129-120000-abcdef",
        name=name,
        job_dir=str(job_dir),
        resources=parse_resources({"cores": 1}),
        python=["/bin/true"],  # the script ends in `/bin/true runner.py ...`: nothing else runs
        array=ArraySpec(2) if array else None,
    )


def _run_script(backend: Backend, tmp: Path, name: str, array: bool) -> str:
    job_dir = tmp / "job"
    job_dir.mkdir(exist_ok=True)
    script = backend.job_script(_spec(job_dir, name, array))
    subprocess.run(["sh", "-c", script], cwd=tmp, check=True, capture_output=True, timeout=30)
    planted = [p.name for p in tmp.rglob("*pwned*")]
    assert not planted, f"{backend.kind}: the name ran a command ({planted})"
    return script


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.kind)
@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_name_runs_nothing_and_adds_no_directive(
    backend: Backend, name: str, tmp_path: Path
) -> None:
    script = _run_script(backend, tmp_path, name, array=False)
    clean = backend.job_script(_spec(tmp_path / "job", "x", array=False))
    for prefix in ("#SBATCH", "#PBS"):
        directives = [ln for ln in script.splitlines() if ln.startswith(prefix)]
        assert len(directives) == len([ln for ln in clean.splitlines() if ln.startswith(prefix)])
    assert len(script.splitlines()) == len(clean.splitlines())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(min_size=1, max_size=80), array=st.booleans())
def test_any_name_is_data(name: str, array: bool, tmp_path: Path) -> None:
    for backend in BACKENDS:
        _run_script(backend, tmp_path, name, array)


@pytest.mark.parametrize("name", ["x\ntouch pwned", "a\0b", "tab\there", "é" * 201])
def test_submission_refuses_a_name_that_is_not_one_line_of_text(name: str) -> None:
    fn = cl.cluster("local", name=name)(abs)
    with pytest.raises(cl.SubmitError, match="one line of printable text"):
        fn.submit(1)
    assert cl.jobs() == []  # refused before anything was recorded or staged


def test_unicode_names_are_fine() -> None:
    assert cl.cluster("local", name="Größe 数据")(abs).submit(-3).result(timeout=60) == 3
