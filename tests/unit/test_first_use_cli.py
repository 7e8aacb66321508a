"""Issue 25, defect 1 from the terminal: a job whose host cannot be reached was never
submitted; `clusterlab result|logs|status` say so in one sentence, without trying to
read files from a host it never reached (a name that does not resolve: nothing leaves
this machine)."""

from __future__ import annotations

import pytest

import clusterlab as cl
from clusterlab.ui.cli import main

pytestmark = pytest.mark.timeout(120)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def refused_id() -> str:
    cl.profiles.save(
        cl.Profile(name="nosuch", scheduler="slurm", host="nosuchhost.invalid", user="jdoe")
    )
    job = cl.cluster("nosuch")(abs).submit(1)
    assert job.state == cl.JobState.FAILED
    return job.id


def test_result_of_a_job_never_submitted_is_one_sentence(
    refused_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "result", refused_id)
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # no "stderr unavailable" section from the host
    assert lines[0].startswith(f"clusterlab: {refused_id} was not submitted: cannot reach ")
    assert "Check the host name and port" in lines[0]


def test_logs_of_a_job_never_submitted_say_why_there_are_none(
    refused_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "logs", refused_id)
    assert code == 1 and out == ""
    assert err.startswith(
        f"clusterlab: {refused_id} has no output: it was not submitted (cannot reach "
    ), err
    assert len(err.strip().splitlines()) == 1, err


def test_a_job_never_submitted_has_empty_logs_without_reaching_its_host(refused_id: str) -> None:
    """The monitor's Log, the panel's Show log and job.stdout() of such a job: nothing to
    read (it used to try the unreachable host and fail with its sentence)."""
    job = cl.job(refused_id)
    assert (job.stdout(), job.stderr()) == ("", "")
