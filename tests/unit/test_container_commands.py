"""The command lines of ``container=`` (issue 28 item 2). Podman runs for real in
tests/integration/test_container.py; Apptainer/Singularity are not packaged here, so their
command lines are checked against the ones their documentation gives (``apptainer exec
--bind SRC[,SRC] --pwd DIR [--nv] IMAGE CMD``): a STAND-IN for running them."""

from __future__ import annotations

import pytest

import clusterlab as cl
from clusterlab.config import containerspec as cs

PY = ["python3"]


def test_apptainer_binds_the_paths_sets_the_job_dir_and_passes_gpus() -> None:
    argv = cs.wrap(
        "apptainer", "/img/py.sif", PY, ["/rd", "/work", "/rd"], "/rd/jobs/1", ["A"], True
    )
    assert argv == [
        *("apptainer", "exec", "--bind", "/rd,/work", "--pwd", "/rd/jobs/1", "--nv"),
        *("/img/py.sif", "python3"),
    ]


def test_singularity_is_the_same_command_without_gpus() -> None:
    assert cs.wrap("singularity", "oci-archive:/i.tar", PY, ["/rd"]) == [
        *("singularity", "exec", "--bind", "/rd", "oci-archive:/i.tar", "python3"),
    ]


def test_podman_and_docker_mount_pass_variables_and_gpus_their_own_way() -> None:
    argv = cs.wrap("podman", "localhost/py:1", PY, ["/rd", ""], "/rd/j", ["SEED", "SEED"], True)
    assert argv == [
        *("flock", "-s", "-o", "/rd/j/container.lock"),  # see test_container.py's cancels
        *("podman", "run", "--rm", "-i", "--network", "host", "-v", "/rd:/rd", "-w", "/rd/j"),
        *("-e", "CLUSTERLAB_OUTSIDE_LOCK=/rd/j/container.lock", "-e", "SEED"),
        *("--device", "nvidia.com/gpu=all", "localhost/py:1", "python3"),
    ]
    assert cs.wrap("docker", "py:3.11", PY, gpus=True)[-4:] == [
        "--gpus",
        "all",
        "py:3.11",
        "python3",
    ]


@pytest.mark.parametrize(
    ("engine", "image", "given"),
    [
        # Apptainer reads a bare name as a file: a registry image needs its docker:// URI
        # ("apptainer exec docker://python:3.11 python3", as its documentation writes it).
        (
            "apptainer",
            "docker.io/library/python:3.11-slim",
            "docker://docker.io/library/python:3.11-slim",
        ),
        ("singularity", "docker://python:3.11", "docker://python:3.11"),
        ("apptainer", "oci-archive:/i.tar", "oci-archive:/i.tar"),
        ("podman", "docker://python:3.11", "docker://python:3.11"),  # podman's transport
        ("docker", "docker://python:3.11", "python:3.11"),  # the docker CLI has none
    ],
)
def test_each_engine_gets_a_registry_image_as_it_spells_one(
    engine: str, image: str, given: str
) -> None:
    argv = cs.wrap(engine, image, PY)
    assert argv[-2:] == [given, "python3"]


@pytest.mark.parametrize(
    ("image", "found", "engine"),
    [
        ("py:3.11", ["docker", "podman"], "podman"),
        ("py:3.11", ["docker", "apptainer"], "apptainer"),
        ("/i/py.sif", ["podman", "singularity"], "singularity"),
    ],
)
def test_auto_picks_the_first_usable_engine(image: str, found: list[str], engine: str) -> None:
    assert cs.pick_engine(image, "auto", found) == engine


def test_a_sif_without_apptainer_is_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError, match="apptainer or singularity on PATH"):
        cs.pick_engine("/i/py.sif", "auto", ["podman"])


@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        ("Py:3.11", "not an image reference"),
        ("oci-archive:images/x.tar", "as a full path"),
        ("/images/a,b.sif", "not one plain path"),
        ("/images/../x.sif", "not one plain path"),
    ],
)
def test_a_bad_container_is_refused_with_an_example(value: str, sentence: str) -> None:
    with pytest.raises(cl.ProfileError, match=sentence):
        cl.Profile(name="c", scheduler="local", container=value)


def test_good_containers_are_kept() -> None:
    for value in (
        "docker.io/library/python:3.11-slim",
        "~/py.sif",
        "localhost:5000/a/b@sha256:" + "0" * 64,
        "docker://python:3.11",  # as ARCHITECTURE.md writes it
    ):
        assert cl.Profile(name="c", scheduler="local", container=value).container == value


def test_the_preview_shows_the_wrapped_python_and_says_how_the_engine_is_picked() -> None:
    from clusterlab.core.preview import preview_script

    profile = cl.Profile(name="c", scheduler="slurm", host="login.example.edu", container="py:3.11")
    script = preview_script(profile)
    assert "# container_engine='auto': the cluster's first of apptainer" in script
    assert "podman run --rm -i --network host -v '~/.clusterlab:~/.clusterlab'" in script
    assert 'py:3.11 python3 runner.py "$JOB_DIR"' in script
