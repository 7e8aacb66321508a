"""``container=``: a job's Python in an image (issue 28 item 2), for real with Debian's
podman on this machine and an image built offline by tests/cluster/podman_image.py (a
root filesystem `podman import`ed: no registry). The local backend, SLURM without SSH (as
root), the FAKE PBS of tests/fakepbs (its jobs run here as root), and, as the sandbox's
SSH user with rootless podman (tests/cluster/podman_user.py), ``direct`` over SSH and the
real Grid Engine; the job script, the probe and the output listing all run through the
same wrapped command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime
from tests.cluster import podman_image, podman_user
from tests.conftest import slurm_local_profile, ssh_profile
from tests.integration.direct_support import direct_profile, drain

pytestmark = pytest.mark.timeout(300)
FAKEPBS_BIN = Path(__file__).resolve().parents[1] / "fakepbs" / "bin"


def until(predicate: Callable[[], object], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("podman") is None:
        if os.environ.get("CLUSTERLAB_REQUIRE_SANDBOX") == "1":
            pytest.fail("podman is not installed: apt-get install podman runc (Debian 12)")
        pytest.skip("podman is not installed (apt-get install podman runc)")
    work = tmp_path_factory.mktemp("image")
    os.environ["CONTAINERS_CONF"] = str(podman_image.containers_conf(work / "containers.conf"))
    return podman_image.build(work)


@pytest.fixture(scope="module")
def user_image(sandbox: object, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image in the sandbox SSH user's own (rootless) podman: what jobs run as that
    user (direct over SSH, Grid Engine) use."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: apt-get install podman runc uidmap (Debian 12)")
    user = sandbox.ssh_user  # type: ignore[attr-defined]
    return podman_user.ensure(user, tmp_path_factory.mktemp("user-image"))


def _profile(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> cl.Profile:
    """A profile of ``kind`` whose jobs run in the test image (found by the fixture that
    puts it where those jobs' podman looks), with a cleanup of what it leaves there."""
    if kind == "local":
        image = request.getfixturevalue("image")
        env = {"CONTAINERS_CONF": os.environ["CONTAINERS_CONF"]}  # the job's podman too
        return cl.Profile(
            name="ctr", scheduler="local", remote_dir=str(tmp_path / "rd"), container=image, env=env
        )
    if kind == "slurm-local":
        image = request.getfixturevalue("image")
        request.getfixturevalue("sandbox")
        env = {"CONTAINERS_CONF": os.environ["CONTAINERS_CONF"]}
        return slurm_local_profile(tmp_path, name="ctr", container=image, env=env)
    if kind == "fakepbs":  # the FAKE PBS Professional of tests/fakepbs: jobs run as root
        image = request.getfixturevalue("image")
        home = tmp_path / "fakepbs"
        home.mkdir()
        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setenv("FAKEPBS_HOME", str(home))
        monkeypatch.setenv("PATH", f"{FAKEPBS_BIN}{os.pathsep}{os.environ['PATH']}")
        fake = [sys.executable, str(FAKEPBS_BIN / "fakepbs.py"), "_shutdown"]
        request.addfinalizer(lambda: subprocess.run(fake, check=True, timeout=60))
        env = {"CONTAINERS_CONF": os.environ["CONTAINERS_CONF"]}
        return cl.Profile(
            name="ctr",
            scheduler="pbs",
            remote_dir=str(tmp_path / "pbsjobs"),
            poll_interval=1,
            container=image,
            env=env,
        )
    image = request.getfixturevalue("user_image")  # the user's ~/.config/containers/
    info = request.getfixturevalue("sandbox")
    if kind == "direct":  # python="": the image's python3, not the host's venv
        profile = direct_profile(info, name="ctr", container=image, python="")
        request.addfinalizer(lambda: drain(profile))
        return profile
    cell = request.getfixturevalue("sge_cell")
    remote_dir = f"~/.clusterlab-sge/{tmp_path.name}"
    profile = ssh_profile(
        info,
        "ctr",
        scheduler="sge",
        sge_settings=cell.settings,  # type: ignore[attr-defined]
        remote_dir=remote_dir,
        container=image,
        python="",
    )
    where = remote_dir.replace("~", info.user_home, 1)  # type: ignore[attr-defined]
    request.addfinalizer(lambda: get_runtime(profile).transport.run(["rm", "-rf", "--", where]))
    return profile


@pytest.mark.parametrize(
    "kind",
    [
        "local",
        pytest.param("slurm-local", marks=pytest.mark.sandbox),
        pytest.param("fakepbs", marks=pytest.mark.fakepbs),
        pytest.param("direct", marks=[pytest.mark.sandbox, pytest.mark.direct]),
        pytest.param("sge", marks=[pytest.mark.sandbox, pytest.mark.sge]),
    ],
)
def test_a_job_runs_in_the_container_with_its_result_logs_files_and_outputs(
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """On this machine, as a job of the sandbox's real SLURM (slurmd runs the script as
    root), and as the sandbox's SSH user in its rootless podman: on the host ``direct``
    reaches over SSH and as a real Grid Engine job."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a\nb\n")
    back = tmp_path / "back"
    profile = _profile(kind, tmp_path, request)
    image = profile.container
    cl.profiles.save(profile)

    def inside(n: int) -> dict[str, object]:
        import os
        import sys

        with open("in.csv") as fh:
            rows = fh.read().splitlines()
        os.makedirs("plots", exist_ok=True)
        with open("plots/summary.txt", "w") as fh:
            fh.write(f"{len(rows)} rows, run {n}\n")
        print("hello from the container", flush=True)
        return {
            "rows": len(rows),
            "container": os.path.exists("/etc/clusterlab-test-image"),  # only in the image
            "seed": os.environ.get("SEED"),
            "site": sys.path[-1],
        }

    f = cl.cluster("ctr")(inside).options(
        files=["in.csv"], outputs=["plots/*.txt"], outputs_dir=str(back), env={"SEED": "7"}
    )
    job = f.submit(1)
    out = job.result(timeout=240)
    assert out["rows"] == 2 and out["container"] is True and out["seed"] == "7"
    assert not os.path.exists(podman_image.MARKER)  # (this machine is not the image)
    assert "hello from the container" in job.stdout()
    assert job.output_files == [str(back / "plots" / "summary.txt")]
    assert (back / "plots" / "summary.txt").read_text() == "2 rows, run 1\n"
    lines = {ln.name: ln for ln in cl.profiles.check("ctr").lines}
    assert lines["container"].ok and f"podman runs {image}" in lines["container"].detail
    assert lines["python"].ok and sys.version.split()[0] in lines["python"].detail


def _runners() -> str:
    """The command lines of the runners running now, in containers or not (the processes
    matter: on Grid Engine the scheduler's kill also ends podman's monitor, conmon, so
    `podman ps` goes on listing a container whose process has ended)."""
    ps = subprocess.run(["ps", "-ewwo", "args"], capture_output=True, text=True, check=True)
    return "\n".join(line for line in ps.stdout.splitlines() if "runner.py" in line)


@pytest.mark.parametrize(
    "kind",
    [
        "local",
        pytest.param("slurm-local", marks=pytest.mark.sandbox),
        pytest.param("fakepbs", marks=pytest.mark.fakepbs),
        pytest.param("direct", marks=[pytest.mark.sandbox, pytest.mark.direct]),
        pytest.param("sge", marks=[pytest.mark.sandbox, pytest.mark.sge]),  # qdel: SIGKILL
    ],
)
def test_a_cancelled_job_leaves_no_container_running(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The container is the engine's, not the scheduler's: killing the job's processes
    killed the engine's client (whose relay of SIGTERM the scheduler's kill interrupts,
    and which cannot relay a SIGKILL at all), and the container ran on, unseen, long after
    the job was CANCELLED. (And the runner is PID 1 there, where a signal it sends itself
    with the default action is ignored.)"""
    profile = _profile(kind, tmp_path, request)
    cl.profiles.save(profile)
    job = cl.cluster(profile.name)(time.sleep).submit(600)
    if profile.user:  # (what Grid Engine's kill leaves of podman's record: see the helper)
        request.addfinalizer(lambda: podman_user.remove_containers(profile.user, job.id))
    until(lambda: job.state == cl.JobState.RUNNING, "the job to run")
    assert f"python3 runner.py {job.job_dir}" in _runners()  # (the container's command)
    job.cancel()
    until(lambda: job.state == cl.JobState.CANCELLED, "the job to be cancelled")
    until(lambda: job.id not in _runners(), "its runner (and container) to stop")


def test_a_map_runs_each_item_in_the_container(image: str, tmp_path: Path) -> None:
    cl.profiles.save(
        cl.Profile(name="ctrmap", scheduler="local", container=image, remote_dir=str(tmp_path))
    )

    def square(x: int) -> tuple[int, bool]:
        import os

        return x * x, os.path.exists("/etc/clusterlab-test-image")

    assert cl.cluster("ctrmap")(square).map(range(3)).results() == [
        (0, True),
        (1, True),
        (4, True),
    ]


def _local(name: str, image: str, tmp_path: Path, **fields: object) -> cl.Profile:
    env = {"CONTAINERS_CONF": os.environ["CONTAINERS_CONF"]}
    profile = cl.Profile(
        name=name, scheduler="local", container=image, env=env, remote_dir=str(tmp_path), **fields
    )  # type: ignore[arg-type]
    cl.profiles.save(profile)
    return profile


def test_a_docker_uri_as_the_architecture_writes_it_runs(image: str, tmp_path: Path) -> None:
    """container="docker://NAME" (the public API's own example) is the image NAME."""
    _local("hub", f"docker://{image}", tmp_path)
    marker = podman_image.MARKER

    def where() -> str:
        with open(marker) as fh:
            return fh.read().strip()

    assert cl.cluster("hub")(where).submit().result(timeout=120) == image


def test_an_image_without_python_is_named_with_the_command_to_try_by_hand(
    image: str, tmp_path: Path
) -> None:
    """The engine ran but the image has no python3: the sentence names the image and the
    command that shows it, not 'module load python' (which cannot change an image)."""
    bare = podman_image.build_without_python(tmp_path)
    _local("nopy", bare, tmp_path)
    with pytest.raises(cl.RemoteEnvironmentError) as info:
        cl.cluster("nopy")(abs).submit(-1).result(timeout=120)
    text = str(info.value)
    assert f"podman could not run python3 in the image {bare}" in text
    assert f"Try `podman run --rm {bare} python3 -V` there" in text
    assert "module load" not in text


def test_an_image_without_cloudpickle_says_to_add_it_to_the_image(
    image: str, tmp_path: Path
) -> None:
    """(python3 -S leaves site-packages, where the image has cloudpickle, off the path.)
    pip install --user there would not last: the next container starts from the image."""
    _local("nocp", image, tmp_path, python="python3 -S")
    with pytest.raises(cl.RemoteEnvironmentError) as info:
        cl.cluster("nocp")(abs).submit(-1).result(timeout=120)
    text = str(info.value)
    assert f"cloudpickle is not installed for /usr/bin/python3 in the image {image}" in text
    assert "add it to the image" in text and "--user" not in text


def test_a_node_without_the_engine_fails_the_job_with_its_name(image: str, tmp_path: Path) -> None:
    """The login node has podman (preflight found it) but the node the job runs on does
    not: the job fails naming podman, not 'the profile's python command was not found'
    (the job's command starts with flock, which that node has). The setup line plays
    that node: in the job (JOB_DIR is set there) PATH holds flock and the shell's tools
    only."""
    node = tmp_path / "nodebin"
    node.mkdir()
    for tool in ("flock", "date", "cat", "mkdir", "rm", "mv", "cp", "ln", "timeout"):
        if shutil.which(tool):
            (node / tool).symlink_to(shutil.which(tool))  # type: ignore[arg-type]
    setup = [f'[ -z "${{JOB_DIR:-}}" ] || PATH={node}']
    _local("nonode", image, tmp_path, setup=setup)
    job = cl.cluster("nonode")(abs).submit(-1)
    with pytest.raises(cl.ClusterlabError, match="podman was not found on PATH where the job ran"):
        job.result(timeout=120)
    assert job.state == cl.JobState.FAILED
    assert "module load podman" in job.reason


def test_a_missing_engine_is_refused_with_what_to_do(tmp_path: Path) -> None:
    cl.profiles.save(
        cl.Profile(
            name="noeng",
            scheduler="local",
            container="localhost/whatever:1",
            container_engine="apptainer",
        )
    )
    with pytest.raises(cl.RemoteEnvironmentError, match=r"apptainer is not on PATH there"):
        cl.cluster("noeng")(abs).submit(-1)


def test_sync_with_a_container_is_refused() -> None:
    cl.profiles.save(
        cl.Profile(name="ctrsync", scheduler="local", container="localhost/x:1", environment="sync")
    )
    job = cl.cluster("ctrsync")(abs).submit(-1)  # a profile that cannot work: a FAILED job
    with pytest.raises(cl.RemoteEnvironmentError, match="the image holds the packages"):
        job.result(timeout=180)
    assert job.state == cl.JobState.FAILED
