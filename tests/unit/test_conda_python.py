"""``python="conda:NAME"`` and friends (issue 28 item 3).

conda, mamba, micromamba and pixi are not installed on this machine nor in the sandbox,
so the command lines a job, the probe and the status agent run are checked against the
recorded ones each tool documents (``conda run --no-capture-output -n NAME python``, ...):
a STAND-IN for running them for real. What does run for real: a profile naming a conda
env on a machine without conda is refused at submission and in preflight with the
sentence that fixes it.
"""

from __future__ import annotations

import pytest

import clusterlab as cl
from clusterlab.config import pythonspec
from clusterlab.config.validators import check_python
from clusterlab.core.preview import preview_script

RECORDED = {
    "conda:ml": ["conda", "run", "--no-capture-output", "-n", "ml", "python"],
    "conda:/opt/envs/ml": ["conda", "run", "--no-capture-output", "-p", "/opt/envs/ml", "python"],
    "conda:~/envs/ml": ["conda", "run", "--no-capture-output", "-p", "/home/me/envs/ml", "python"],
    "mamba:ml": ["mamba", "run", "-n", "ml", "python"],
    "micromamba:~/mm/envs/x": ["micromamba", "run", "-p", "/home/me/mm/envs/x", "python"],
    "pixi:~/proj": ["pixi", "run", "--manifest-path", "/home/me/proj", "python"],
    "pixi:/srv/p#gpu": [
        *("pixi", "run", "--manifest-path", "/srv/p", "--environment", "gpu", "python"),
    ],
    "~/venv/bin/python -u": ["/home/me/venv/bin/python", "-u"],
}


def expand(path: str) -> str:
    return "/home/me" + path[1:] if path.startswith("~/") else path


@pytest.mark.parametrize("text", sorted(RECORDED))
def test_each_form_runs_the_tools_own_run_command(text: str) -> None:
    assert check_python(text) == text
    assert pythonspec.python_command(text, expand) == RECORDED[text]


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("conda:my env", "neither an environment name"),
        ("conda:envs/ml", "neither an environment name"),
        ("conda:", "neither an environment name"),
        ("pixi:proj", "full path or '~/...'"),
        ("pixi:~/proj#GPU env", "not a pixi environment name"),
        ("conda:/opt/../etc", "one plain path"),
    ],
)
def test_a_bad_environment_is_refused_with_what_to_write(text: str, sentence: str) -> None:
    with pytest.raises(ValueError, match=sentence):
        check_python(text)
    with pytest.raises(cl.ProfileError, match=sentence):
        cl.Profile(name="c", scheduler="local", python=text)


def test_the_job_script_runs_the_runner_through_conda_run() -> None:
    profile = cl.Profile(
        name="c",
        scheduler="slurm",
        host="login.example.edu",
        python="conda:ml",
        setup=["export PATH=$HOME/miniconda3/condabin:$PATH"],
    )
    script = preview_script(profile)
    assert "command -v -- conda " in script  # the tool must be a program, as python must
    assert 'conda run --no-capture-output -n ml python runner.py "$JOB_DIR"' in script
    assert script.index("condabin") < script.index("conda run")  # after the setup lines


def test_no_conda_here_refuses_the_job_and_preflight_says_what_to_do() -> None:
    """Real: this machine has no conda, so the probe through `conda run` fails."""
    cl.profiles.save(cl.Profile(name="condaless", scheduler="local", python="conda:ml"))
    job = cl.cluster("condaless")(abs).submit(-1)  # a profile that cannot work: FAILED job
    with pytest.raises(cl.RemoteEnvironmentError) as info:
        job.result(timeout=60)
    assert job.state == cl.JobState.FAILED
    message = str(info.value)
    assert "`conda run --no-capture-output -n ml python` could not run" in message
    assert "conda must be a program on PATH after the profile's setup lines" in message
    assert "condabin" in message and "'ml' must exist there" in message
    lines = {ln.name: ln for ln in cl.profiles.check("condaless").lines}
    assert not lines["python"].ok and "conda must be a program on PATH" in lines["python"].detail


def test_sync_is_left_to_venvs() -> None:
    cl.profiles.save(
        cl.Profile(name="condasync", scheduler="local", python="conda:ml", environment="sync")
    )
    job = cl.cluster("condasync")(abs).submit(-1)
    with pytest.raises(cl.RemoteEnvironmentError, match="builds a venv, not a conda environment"):
        job.result(timeout=60)
