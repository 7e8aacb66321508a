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
    assert leftovers.split() == [envs[0]["hash"]]  # no temp build dir left behind
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
    with pytest.raises(cl.RemoteEnvironmentError, match="failed; nothing was kept"):
        cl.cluster("syncfail")(abs).submit(-1)
    envs_dir = tmp_path / "rd" / "envs"
    assert list(envs_dir.iterdir()) == []
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
