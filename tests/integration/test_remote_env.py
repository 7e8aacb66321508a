"""Issue 13, "the remote side just works", against the real sshd + SLURM sandbox.

The sandbox user's venv differs from this one on purpose (tests/cluster/sandbox.py,
REMOTE_PACKAGES): it has cloudpickle, numpy and packaging 26.3 (26.4 here), and no PyYAML.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime
from clusterlab.core.transfer import localcode
from tests.conftest import ssh_profile

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the sandbox user can read (pytest's tmp dirs are root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="cl13-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def fake_python(where: Path, real: str, minor: int) -> str:
    """A `python` that runs ``real`` but reports 3.<minor> (as another install would)."""
    site = where / "fakesite"
    site.mkdir(mode=0o755)
    (site / "sitecustomize.py").write_text(
        f"import sys\nsys.version_info = (3, {minor}, 1, 'final', 0)\n"
    )
    wrapper = where / "python3"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {real} "$@"\n')
    wrapper.chmod(0o755)
    for p in (site / "sitecustomize.py",):
        p.chmod(p.stat().st_mode | stat.S_IROTH)
    return str(wrapper)


@pytest.mark.parametrize("where", ["local", "slurm-ssh"])
def test_a_python_minor_mismatch_is_refused_with_its_sentence(
    where: str, shared_dir: Path, request: pytest.FixtureRequest
) -> None:
    other = sys.version_info.minor - 1
    if where == "local":
        python = fake_python(shared_dir, sys.executable, other)
        profile = cl.Profile(name="mm", scheduler="local", python=python)
    else:
        sandbox = request.getfixturevalue("sandbox")
        python = fake_python(shared_dir, sandbox.remote_python, other)
        profile = ssh_profile(sandbox, name="mm", python=python)
    cl.profiles.save(profile)
    here = sys.version_info.minor
    sentence = rf"the cluster's Python is 3\.{other}\.1 but this kernel runs 3\.{here}"
    job = cl.cluster("mm")(abs).submit(-1)  # a profile that cannot work: a FAILED job
    with pytest.raises(cl.RemoteEnvironmentError, match=sentence + r".*Point the profile's python"):
        job.result(timeout=180)
    assert job.state == cl.JobState.FAILED
    lines = {ln.name: ln for ln in cl.profiles.check("mm").lines}
    assert lines["python"].level == "error" and "cannot be loaded" in lines["python"].detail


def test_preflight_lists_missing_and_different_packages(sandbox: object) -> None:
    import packaging.version  # noqa: F401 - imported by this "kernel": 26.4 here
    import yaml  # noqa: F401 - PyYAML: the cluster lacks it

    profile = ssh_profile(sandbox, name="pk")
    report = cl.profiles.check(profile)
    line = next(ln for ln in report.lines if ln.name == "packages")
    assert report.ok and line.level == "warning", str(report)
    rows = {r.split()[0]: r.split()[1:] for r in line.detail.splitlines()[1:]}
    assert rows["packaging"] == [metadata.version("packaging"), "26.3"]
    assert rows["PyYAML"] == [metadata.version("PyYAML"), "missing"]
    assert "numpy" not in rows and "cloudpickle" not in rows  # same versions there
    assert "pip install --user" in line.detail and "PyYAML==" in line.detail
    assert "environment='sync'" in line.detail


def _uses_yaml_inside(x: int) -> str:
    import yaml

    return str(yaml.safe_dump({"x": x}))


def test_a_job_missing_a_module_says_which_package_to_install(sandbox: object) -> None:
    import yaml

    cl.profiles.save(ssh_profile(sandbox, name="mm2"))
    f = cl.cluster("mm2", async_submit=True)
    # in the call: the function imports it
    job = f(_uses_yaml_inside)(1)
    with pytest.raises(ModuleNotFoundError) as info:
        job.result(timeout=120)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    pin = f"PyYAML=={metadata.version('PyYAML')}"
    assert f"pip install --user {pin}" in notes and "environment='sync'" in notes
    # preflight lists it as needed by a function sent, apart from what the kernel imported
    line = next(ln for ln in cl.profiles.check("mm2").lines if ln.name == "packages")
    sent = line.detail.split("needed by the functions this kernel sent:\n")[1]
    assert "PyYAML" in sent.split("imported by the kernel:")[0]
    # in the load step: the function's argument needs it
    job = f(repr)(yaml.YAMLObject())
    with pytest.raises(cl.RemoteEnvironmentError, match=rf"could not be loaded.*yaml.*{pin}"):
        job.result(timeout=120)


@pytest.fixture
def project(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Modules next to the "notebook": helper code of the user's own."""
    (shared_dir / "cl13_helpers.py").write_text(
        textwrap.dedent(
            """
            import os

            class Box:
                def __init__(self, v):
                    self.v = v

            def work(box):
                return {"value": box.v * 2, "cwd": os.getcwd(),
                        "env": os.environ.get("CL13"), "setup": os.environ.get("CL13_SETUP")}
            """
        )
    )
    monkeypatch.syspath_prepend(str(shared_dir))
    yield shared_dir
    sys.modules.pop("cl13_helpers", None)
    localcode._verdicts.clear()


def test_a_local_module_setup_env_and_workdir_on_slurm(
    slurm_profile: cl.Profile, project: Path, sandbox: object
) -> None:
    from cl13_helpers import Box, work  # type: ignore[import-not-found]

    if slurm_profile.is_remote:  # a project dir in the sandbox user's home
        workdir, expected_cwd = "~/cl13-run", f"{sandbox.user_home}/cl13-run"  # type: ignore[attr-defined]
    else:
        workdir = expected_cwd = str(project / "run")
    profile = slurm_profile.replace(
        setup=["CL13_SETUP='from setup'; export CL13_SETUP"],
        env={"CL13": "it's $(data)"},
    )
    cl.profiles.save(profile)
    out = cl.cluster(profile.name)(work).options(workdir=workdir)(Box(21))
    assert out == {"value": 42, "cwd": expected_cwd, "env": "it's $(data)", "setup": "from setup"}


def test_files_in_and_outputs_out(any_profile: cl.Profile, tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text("a,b\n1,2\n")
    back = tmp_path / "back"

    def transform(n: int) -> int:
        with open("in.csv") as fh:
            rows = fh.read().splitlines()
        os.makedirs("plots", exist_ok=True)
        with open("plots/summary.txt", "w") as fh:
            fh.write(f"{len(rows)} rows, run {n}\n")
        with open("other.log", "w") as fh:
            fh.write("not asked for")
        return len(rows)

    f = cl.cluster(any_profile.name)(transform).options(
        files=[str(data)], outputs=["plots/*.txt"], outputs_dir=str(back)
    )
    assert f(1) == 2
    assert (back / "plots" / "summary.txt").read_text() == "2 rows, run 1\n"
    assert not (back / "other.log").exists()
    blobs = get_runtime(cl.profiles.load(any_profile.name)).blobs
    sent = blobs.uploaded
    job = f.submit(2)
    assert job.result(timeout=120) == 2
    assert blobs.uploaded == sent  # the same input is not sent twice
    assert job.output_files == [str(back / "plots" / "summary.txt")]
    assert (back / "plots" / "summary.txt").read_text() == "2 rows, run 2\n"


def test_a_reattached_job_brings_its_outputs_back(tmp_path: Path) -> None:
    """outputs= is in the ledger: a process that reattaches downloads the files."""
    import json
    import signal
    import subprocess
    import time

    cl.profiles.save(cl.Profile(name="reat", scheduler="local", poll_interval=0.5))
    back = tmp_path / "back"
    script = textwrap.dedent(
        f"""
        import json, time
        import clusterlab as cl

        def make():
            import time
            time.sleep(3)
            open("made.txt", "w").write("made")
            return 1

        f = cl.cluster("reat")(make).options(outputs=["*.txt"], outputs_dir={str(back)!r})
        print(json.dumps(f.submit().id), flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    job_id = json.loads(proc.stdout.readline())
    time.sleep(1.5)  # running, not queued by the kernel that is about to die
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    job = cl.job(job_id)
    assert isinstance(job, cl.Job) and job.result(timeout=60) == 1
    assert (back / "made.txt").read_text() == "made"


def test_symbolic_links_among_outputs(any_profile: cl.Profile, tmp_path: Path) -> None:
    """A link to a file of the working directory comes back as that file; a link that
    leads out of it (or nowhere) is refused with a sentence. Before, any link made the
    whole download fail (tar keeps links as links: KeyError), so no output came back."""
    back = tmp_path / "back"

    def write(n: int) -> int:
        with open("real.txt", "w") as fh:
            fh.write(f"run {n}\n")
        os.symlink("real.txt", "alias.txt")
        os.symlink("/etc/hostname", "outside.txt")
        os.symlink("missing-file", "dangling.txt")
        return n

    f = cl.cluster(any_profile.name)(write).options(outputs=["*.txt"], outputs_dir=str(back))
    with pytest.warns(UserWarning) as said:
        job = f.submit(3)
        assert job.result(timeout=120) == 3
    text = " ".join(str(w.message) for w in said)
    assert "'outside.txt'" in text and "outside the directory" in text
    assert "'dangling.txt'" in text and "a symbolic link to nothing" in text
    assert "could not be downloaded" not in text
    assert (back / "real.txt").read_text() == "run 3\n"
    assert (back / "alias.txt").read_text() == "run 3\n"
    assert not (back / "alias.txt").is_symlink()
    assert not (back / "outside.txt").exists() and not (back / "dangling.txt").exists()
    assert sorted(Path(p).name for p in job.output_files) == ["alias.txt", "real.txt"]
