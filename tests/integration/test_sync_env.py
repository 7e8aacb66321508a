"""environment="sync" against the real sshd + SLURM sandbox (issue 13).

A separate Python plays the kernel, so the lock is what a notebook that imported PyYAML
and six holds (this pytest process has imported far more). The sandbox user's pip points
at a closed port on 127.0.0.1: the env can only come from the wheelhouse built here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.environment import sync as envsync
from clusterlab.core.runtime import get_runtime
from tests.conftest import ssh_profile

pytestmark = pytest.mark.timeout(600)

KERNEL = textwrap.dedent(
    """
    import json, sys, time
    import yaml, six  # what this "notebook" uses
    import clusterlab as cl

    def f(x):
        import yaml, six, sys
        return yaml.safe_dump({"x": x}), six.__version__, sys.executable

    t0 = time.monotonic()
    out = cl.cluster("sync")(f)(1)
    result = {"out": out, "seconds": time.monotonic() - t0}
    if "--import-more" in sys.argv:  # a package imported later in the session: a new lock
        import toolz

        def g():
            import toolz
            return toolz.__version__

        result["more"] = cl.cluster("sync")(g)()
    print(json.dumps(result))
    """
)


# Issue 28: what the functions import, read from their code. The kernel imported traitlets
# (its own machinery) but never toolz, which only a nested function's body imports.
KERNEL_SHIPPED = textwrap.dedent(
    """
    import json, sys
    import traitlets
    import clusterlab as cl

    def uses_traitlets():
        import traitlets
        return traitlets.__version__

    def uses_toolz():
        def inner():
            import toolz
            return toolz.__version__
        return inner()

    out = {}
    for fn in (uses_traitlets, uses_toolz):
        try:
            out[fn.__name__] = cl.cluster("sync")(fn)()
        except Exception as exc:
            out[fn.__name__] = f"{type(exc).__name__}: {exc}"
    out["kernel imported toolz"] = "toolz" in sys.modules
    print(json.dumps(out))
    """
)


def run_kernel(tmp_path: Path, *args: str, code: str = KERNEL) -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(cl.__file__).parents[1]), os.getcwd()]),
        "PIP_NO_INDEX": "1",  # here too: no index traffic; wheels are cached or repacked
    }
    res = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    result: dict[str, object] = json.loads(res.stdout.strip().splitlines()[-1])
    result["stderr"] = res.stderr
    return result


def test_sync_builds_once_offline_and_the_next_session_reuses_it(
    sandbox: object, tmp_path: Path
) -> None:
    remote_dir = f"~/.cl13-sync-{uuid.uuid4().hex[:8]}"
    profile = ssh_profile(
        sandbox,
        name="sync",
        environment="sync",
        remote_dir=remote_dir,
        env={"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0"},
    )
    cl.profiles.save(profile)
    first = run_kernel(tmp_path)
    second = run_kernel(tmp_path)
    (dump, six_version, executable), seconds1 = first["out"], first["seconds"]  # type: ignore[misc]
    assert dump == "x: 1\n" and six_version == __import__("six").__version__
    assert "/envs/" in str(executable)
    assert "building the environment" in str(first["stderr"])
    assert "from wheels uploaded from here" in str(first["stderr"])
    assert "building" not in str(second["stderr"])
    assert second["out"] == first["out"]
    print(f"\nsync: first job {seconds1:.2f} s (build), second {second['seconds']:.2f} s (reuse)")
    envs = cl.envs("sync")
    assert len(envs) == 1 and envs[0]["ready"]
    assert sorted(p.split("==")[0] for p in envs[0]["packages"]) == [
        "PyYAML",
        "cloudpickle",
        "six",
    ]
    runtime = get_runtime(profile)
    leftovers = runtime.transport.script('ls -A "$1"', str(Path(envs[0]["path"]).parent)).out
    lock_file = f".{envs[0]['hash']}.lock"  # the build's flock: kept, empty, for later builds
    assert sorted(leftovers.split()) == [lock_file, envs[0]["hash"]]  # no temp build dir
    cl.profiles.remove_env(envs[0]["hash"], "sync")
    assert cl.envs("sync") == []
    # a package imported later in a session changes the lock: a second env, built then
    third = run_kernel(tmp_path, "--import-more")
    assert third["more"] == __import__("toolz").__version__
    assert len(cl.envs("sync")) == 2
    # content-addressed wheels: the new lock sends only the wheel the cluster lacks
    sent = [int(s) for s in re.findall(r"uploaded (\d+) KiB of wheels", str(first["stderr"]))]
    again = [int(s) for s in re.findall(r"uploaded (\d+) KiB of wheels", str(third["stderr"]))]
    print(f"sync: wheels sent {sent} KiB first, {again} KiB for a lock with one more package")
    assert len(sent) == 1 and len(again) == 2 and again[0] == 0 and again[1] < sent[0]
    runtime.transport.run(["rm", "-rf", "--", runtime.jobs_root().rsplit("/", 1)[0]])


def test_a_failed_build_leaves_nothing_marked_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = cl.Profile(
        name="syncfail", scheduler="local", environment="sync", remote_dir=str(tmp_path / "rd")
    )
    cl.profiles.save(profile)
    lock = envsync.Lock(python=f"{sys.version_info[0]}.{sys.version_info[1]}")
    lock.pins["no-such-dist"] = ("no-such-dist", "1.0")
    monkeypatch.setattr(envsync, "make_lock", lambda: lock)
    monkeypatch.setattr(envsync, "build_wheels", lambda lock, download: {})  # nothing to upload
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    job = cl.cluster("syncfail")(abs).submit(-1)  # a profile that cannot work: a FAILED job
    with pytest.raises(cl.RemoteEnvironmentError, match="failed; nothing was kept"):
        job.result(timeout=180)
    assert job.state == cl.JobState.FAILED
    envs_dir = tmp_path / "rd" / "envs"
    assert [p.name for p in envs_dir.iterdir() if not p.name.endswith(".lock")] == []
    assert cl.envs("syncfail") == []


def test_sync_builds_with_uv_when_the_cluster_has_it_and_reuses_it(
    sandbox: object, tmp_path: Path
) -> None:
    """The sandbox user's uv (tests/cluster/sandbox.py, not on its PATH) is chosen by the
    profile's setup line; the build log names uv, the env says it was installed by uv,
    and the next session reuses it. Wheels come from here (no index: pip and uv would
    both fail on the closed port)."""
    from tests.cluster.sandbox import uv_dir

    uv = uv_dir(sandbox.user_home)  # type: ignore[attr-defined]
    remote_dir = f"~/.cl13-uv-{uuid.uuid4().hex[:8]}"
    profile = ssh_profile(
        sandbox,
        name="sync",
        environment="sync",
        remote_dir=remote_dir,
        setup=[f"export PATH={uv}:$PATH"],
        env={"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "UV_INDEX_URL": "http://127.0.0.1:9"},
    )
    cl.profiles.save(profile)
    first = run_kernel(tmp_path)
    second = run_kernel(tmp_path)
    (dump, _, executable), seconds1 = first["out"], first["seconds"]  # type: ignore[misc]
    assert dump == "x: 1\n" and "/envs/" in str(executable)
    assert f"uv ({uv}/uv)" in str(first["stderr"])  # the build log says which tool
    assert "building" not in str(second["stderr"]) and second["out"] == first["out"]
    print(f"\nsync with uv: first job {seconds1:.2f} s (build), second {second['seconds']:.2f} s")
    envs = cl.envs("sync")
    assert len(envs) == 1 and envs[0]["ready"] and envs[0]["tool"] == "uv"
    runtime = get_runtime(profile)
    runtime.transport.run(["rm", "-rf", "--", runtime.jobs_root().rsplit("/", 1)[0]])


@pytest.fixture(scope="module")
def shipped_run(
    sandbox: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, object]]:
    """One kernel session on a sync profile sending both functions (two locks, two envs),
    with its own config and data dirs (module-scoped: the per-test ones are not set yet)."""
    home = tmp_path_factory.mktemp("shipped")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLUSTERLAB_CONFIG_DIR", str(home / "config"))
        mp.setenv("CLUSTERLAB_DATA_DIR", str(home / "data"))
        mp.setattr(cl.profiles, "_session_default", None)
        profile = ssh_profile(
            sandbox,
            name="sync",
            environment="sync",
            remote_dir=f"~/.cl28-sync-{uuid.uuid4().hex[:8]}",
            env={"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0"},
        )
        cl.profiles.save(profile)
        try:
            yield run_kernel(home, code=KERNEL_SHIPPED)
        finally:
            runtime = get_runtime(profile)
            runtime.transport.run(["rm", "-rf", "--", runtime.jobs_root().rsplit("/", 1)[0]])


def test_a_function_importing_the_kernels_own_machinery_gets_it_by_sync(
    shipped_run: dict[str, object],
) -> None:
    """traitlets was left out of every lock as 'kernel-only', so a function importing it
    failed with ModuleNotFoundError on a sync profile."""
    assert shipped_run["uses_traitlets"] == __import__("traitlets").__version__


def test_a_package_only_the_functions_body_imports_is_in_the_sync_env(
    shipped_run: dict[str, object],
) -> None:
    """The lock held only what the kernel imported: toolz, imported by a nested function
    inside the body and never by the kernel, was missing there."""
    assert shipped_run["kernel imported toolz"] is False
    assert shipped_run["uses_toolz"] == __import__("toolz").__version__


def _fake_uv(where: Path) -> Path:
    """A ``uv`` whose venv is a real stdlib venv and whose install records itself, then
    waits for ``go`` to exist (a long install held open by the test)."""
    uv = where / "uv"
    uv.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = venv ]; then exec {sys.executable} -m venv --without-pip "$5"; fi\n'
        f'echo install >> "{where}/installs"\n'
        f'while [ ! -e "{where}/go" ]; do sleep 0.05; done\n'
    )
    uv.chmod(0o755)
    return uv


def _start_build(final: Path, uv: Path, lock: str) -> subprocess.Popen[str]:
    spec = {
        "dir": str(final),
        "pins": [],
        "wheels": [],
        "offline": True,
        "uv": str(uv),
        "lock": lock,
        "limit": 300,
        "heartbeat": 0.2,
    }
    return subprocess.Popen(
        [sys.executable, "-c", envsync._BUILD, json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_build_of_a_lock_joins_the_running_one_and_never_removes_a_ready_env(
    tmp_path: Path,
) -> None:
    """Two builds of one lock (two kernels, or a retry after SSH gave up on a silent
    install): the second used to build too and then delete the env the first had made
    ready, under the jobs using it. Now it waits for the running build and joins it."""
    import threading
    import time

    final = tmp_path / "envs" / "0123456789abcdef"
    uv = _fake_uv(tmp_path)
    first = _start_build(final, uv, "first")
    deadline = time.monotonic() + 60
    while not (tmp_path / "installs").exists():  # the first build is installing
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    second = _start_build(final, uv, "second")
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(second.stdout or []), daemon=True)
    reader.start()
    while second.poll() is None and not any("waiting for the build" in s for s in said):
        assert time.monotonic() < deadline  # (the old script built at once, beside it)
        time.sleep(0.05)
    inodes = set()
    (tmp_path / "go").touch()
    while first.poll() is None or second.poll() is None:
        if (final / "ready").exists():  # once ready, the env is never replaced
            inodes.add(final.stat().st_ino)
        assert time.monotonic() < deadline
        time.sleep(0.01)
    reader.join(10)
    inodes.add(final.stat().st_ino)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert (tmp_path / "installs").read_text().count("install") == 1  # built once
    assert len(inodes) == 1 and (final / "ready").exists()
    assert (final / "lock.txt").read_text() == "first"
    assert any("joined" in s for s in said)
    assert any("installing (" in s or "waiting for the build" in s for s in said)


def test_a_build_longer_than_the_command_limit_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remote command may stay silent CLUSTERLAB_COMMAND_TIMEOUT seconds (120 by
    default); a build (venv + pip) takes longer and used to be given up while it went on
    (a retry then built a second time). It has its own, stated limit (BUILD_LIMIT)."""
    profile = cl.Profile(
        name="syncslow", scheduler="local", environment="sync", remote_dir=str(tmp_path / "rd")
    )
    cl.profiles.save(profile)
    lock = envsync.Lock(python=f"{sys.version_info[0]}.{sys.version_info[1]}")
    monkeypatch.setattr(envsync, "make_lock", lambda: lock)
    monkeypatch.setattr(envsync, "build_wheels", lambda lock, download: {})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("CLUSTERLAB_COMMAND_TIMEOUT", "1")  # less than `python -m venv` takes
    runtime = get_runtime(profile)
    envsync.ensure_synced(runtime.environment, str(tmp_path / "rd"), runtime.blobs)
    assert [e["ready"] for e in cl.envs("syncslow")] == [True]


def _cross_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> cl.Profile:
    """A local profile whose 'cluster' says it runs another platform (the kernel's own
    platform string is changed), with a lock of one pure package, six."""
    import six

    profile = cl.Profile(
        name=name, scheduler="local", environment="sync", remote_dir=str(tmp_path / "rd")
    )
    cl.profiles.save(profile)
    lock = envsync.Lock(python=f"{sys.version_info[0]}.{sys.version_info[1]}")
    lock.pins["six"] = ("six", six.__version__)
    monkeypatch.setattr(envsync, "make_lock", lambda: lock)
    monkeypatch.setattr(envsync.sysconfig, "get_platform", lambda: "macosx-14.0-arm64")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # nothing comes from an index in this test
    return profile


def test_another_platform_never_installs_by_name_from_the_clusters_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no wheel for the cluster's platform here, the build used to install the pins
    by name from the cluster's index, without hashes (dependency confusion for private
    names). Now it is refused, naming the packages and where to put their wheels."""
    profile = _cross_platform(monkeypatch, tmp_path, "syncplat")
    with pytest.raises(cl.RemoteEnvironmentError) as info:
        envsync.ensure_synced(
            get_runtime(profile).environment, str(tmp_path / "rd"), get_runtime(profile).blobs
        )
    text = str(info.value)
    assert "no wheel for the cluster's platform" in text and "six==" in text
    assert "dependency confusion" in text and "wheelhouse" in text
    assert cl.envs("syncplat") == []


def test_another_platform_installs_from_its_wheelhouse_folder_with_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clusterlab.core.environment import lock as envlock

    profile = _cross_platform(monkeypatch, tmp_path, "syncplat2")
    runtime = get_runtime(profile)
    where = runtime.environment.run_python(envsync._WHERE)
    platform = json.loads(where.out.strip().splitlines()[-1])["platform"]
    folder = envlock.platform_cache(platform)
    envlock.repack("six", folder)  # a pure wheel: installs on any platform
    envsync.ensure_synced(runtime.environment, str(tmp_path / "rd"), runtime.blobs)
    envs = cl.envs("syncplat2")
    assert [e["ready"] for e in envs] == [True]
    reqs = subprocess.run(
        [f"{envs[0]['path']}/bin/python", "-c", "import six; print(six.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert reqs.stdout.strip() == __import__("six").__version__
