"""The `clusterlab profile ...` commands, run in-process as a user would type them."""

from __future__ import annotations

import pytest

import clusterlab as cl
from clusterlab.ui.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_show_edit_list_remove(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "profile",
        "add",
        "hpc",
        "--scheduler",
        "slurm",
        "--host",
        "login.example.edu",
        "--setup",
        "module load python/3.11",
        "--resources",
        "cores=4,memory=8GB",
        "--resources",
        "partition=normal",
    )
    assert code == 0 and "saved profile 'hpc'" in out
    p = cl.profiles.load("hpc")
    assert p.resources == {"cores": 4, "memory": "8GB", "partition": "normal"}
    assert p.setup == ["module load python/3.11"]
    assert run(capsys, "profile", "edit", "hpc", "--port", "2222")[0] == 0
    assert cl.profiles.load("hpc").port == 2222
    code, out, _ = run(capsys, "profile", "list")
    assert out.splitlines()[0].startswith("local") and "login.example.edu" in out
    assert "module load python/3.11" in run(capsys, "profile", "show", "hpc")[1]
    assert run(capsys, "profile", "remove", "hpc")[0] == 0
    assert cl.profiles.list() == ["local"]


def test_invalid_fields_are_all_reported_and_nothing_saved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        capsys,
        "profile",
        "add",
        "hpc",
        "--scheduler",
        "slurm",
        "--host",
        "h",
        "--port",
        "99999",
        "--resources",
        "cores=x",
    )
    assert code == 2
    assert "port: must be a number from 1 to 65535" in err
    assert "resources: cores='x'" in err
    assert "nothing was saved" in err
    assert cl.profiles.list() == ["local"]


def test_check_prints_lines_and_sets_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "profile", "check", "local")
    assert code == 0
    assert "[ok] connect" in out and "[ok] cloudpickle" in out and "ready" in out


def test_help_shows_schema_tooltips(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["profile", "add", "--help"])
    out = capsys.readouterr().out
    assert "--trust-on-first-use" in out and "known_hosts" in out.replace("\n", " ")


def test_interactive_add_prompts_with_tooltips(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["slurm", "login.example.edu", "me"] + [""] * 20)
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    code, out, _ = run(capsys, "profile", "add", "hpc", "-i")
    assert code == 0
    assert "The machine you ssh into" in out
    p = cl.profiles.load("hpc")
    assert (p.scheduler, p.host, p.user) == ("slurm", "login.example.edu", "me")


def test_interactive_add_takes_the_profile_default_scheduler_on_enter(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enter at the scheduler prompt gave 'slurm' while every other way to make a profile
    (the Profile default, the lab panel, the widget) gives 'local', and the prompt did
    not say which one Enter would take."""
    prompts: list[str] = []

    def answer(prompt: str = "") -> str:
        prompts.append(prompt)
        return ""

    monkeypatch.setattr("builtins.input", answer)
    code, _, _ = run(capsys, "profile", "add", "mine", "-i")
    assert code == 0
    assert cl.profiles.load("mine").scheduler == cl.Profile(name="x").scheduler == "local"
    assert prompts[0].startswith("scheduler (") and prompts[0].endswith("[local]: ")


def test_several_extra_options_are_all_kept_and_shown_in_the_script(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        capsys,
        "profile",
        "add",
        "hpc",
        "--scheduler",
        "slurm",
        "--host",
        "login.example.edu",
        "--resources",
        "tasks=4, qos=high, gpus=a100:2, extra=--exclusive",
        "--resources",
        "extra=--mail-type=END,FAIL",
    )
    assert code == 0, err
    assert cl.profiles.load("hpc").resources["extra"] == ["--exclusive", "--mail-type=END,FAIL"]
    code, out, err = run(capsys, "profile", "show", "hpc", "--script")
    assert code == 0 and out.startswith("#!/bin/sh\n")
    for line in (
        "#SBATCH --ntasks=4",
        "#SBATCH --gres=gpu:a100:2",
        "#SBATCH --qos=high",
        "#SBATCH --exclusive",
        "#SBATCH --mail-type=END,FAIL",
    ):
        assert f"\n{line}\n" in out
    assert "preview" in err  # the job id and directory are placeholders until submission


def test_a_resource_given_twice_is_refused_and_nothing_saved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        capsys, "profile", "add", "hpc", "--scheduler", "slurm", "--resources", "cores=4,cores=8"
    )
    assert code == 2 and "cores is given twice (4, then 8)" in err and "nothing was saved" in err


def test_show_script_refuses_what_the_scheduler_cannot_do_and_unknown_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cl.profiles.save(cl.Profile(name="hpc", scheduler="slurm", host="login.example.edu"))
    code, _, err = run(capsys, "profile", "show", "hcp", "--script")
    assert code == 2 and "no profile named 'hcp' (did you mean 'hpc'?)" in err
    code, _, err = run(
        capsys, "profile", "add", "pb", "--scheduler", "pbs", "--resources", "qos=high"
    )
    assert code == 2 and "the 'pbs' scheduler cannot take qos='high'" in err
