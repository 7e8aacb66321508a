"""Shared fixtures: every test gets its own profile store and data dir.

The real-cluster fixtures bring up tests/cluster/sandbox.py (SLURM + sshd on loopback).
With CLUSTERLAB_REQUIRE_SANDBOX=1 (set by `make test` and CI) a sandbox that cannot start
fails the run; otherwise those tests are skipped with the reason, never silently.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab import profiles, transports
from clusterlab.core import runtime as core
from tests.skipreport import SkipReport

# Shared SSH logins (ControlMaster sockets) of this test session live in their own
# owner-only dir, ended at the session's end; a test that breaks logins uses its own.
os.environ.setdefault("CLUSTERLAB_LOGIN_DIR", tempfile.mkdtemp(prefix="cl-login-"))


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private config and data dir per test, so tests never see each other's profiles."""
    monkeypatch.setenv("CLUSTERLAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CLUSTERLAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(profiles, "_session_default", None)
    yield tmp_path


@pytest.fixture(autouse=True)
def nothing_sent_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """What "this kernel sent" (core/environment/packages.py) starts empty in each test,
    as in a new kernel: a package one test's function needed is not another's."""
    from clusterlab.core.environment import packages

    monkeypatch.setattr(packages, "_shipped", {})
    monkeypatch.setattr(packages, "_warned", set())
    monkeypatch.setattr(packages, "_modules_noted", set())


@pytest.fixture(autouse=True)
def own_status_agents() -> Iterator[None]:
    """Runtimes on one connection share its status agent (core/watching/agentlink.py) and
    what befell it (a kill, a failed start, its 60 s before a retry): each test starts with
    none of that."""
    yield
    from clusterlab.core.watching import agenthandle

    for runtime in list(core._runtimes.values()):
        runtime.push.close()
        runtime.push._push = None
    agenthandle._shared.clear()


@pytest.fixture(scope="session")
def sandbox() -> object:
    """The real SLURM + sshd sandbox (started once per session, reused if already up)."""
    from tests.cluster import sandbox as sb

    try:
        info = sb.up()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CLUSTERLAB_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"the SLURM/sshd sandbox could not start: {exc}")
        pytest.skip(f"the SLURM/sshd sandbox could not start (run as root?): {exc}")
    os.environ["SLURM_CONF"] = info.slurm_conf
    return info


@pytest.fixture(scope="session")
def sge_cell() -> object:
    """The real Grid Engine cell (tests/cluster/sge.py), started once per session and
    reused if already up; jobs go to it as the sandbox's SSH user (root cannot submit)."""
    from tests.cluster import sge

    try:
        return sge.up()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CLUSTERLAB_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"the Grid Engine cell could not start: {exc}")
        pytest.skip(f"the Grid Engine cell could not start (run as root?): {exc}")


def slurm_state(native_id: str) -> str:
    """What SLURM itself says about a job (asked directly, not through clusterlab)."""
    return subprocess.run(
        ["squeue", "--noheader", "--states=all", f"--jobs={native_id}", "--format=%T"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def ssh_profile(info: object, name: str = "sbssh", **overrides: object) -> cl.Profile:
    """A SLURM profile reaching the sandbox over real SSH as the throwaway user."""
    fields: dict[str, object] = {
        "name": name,
        "scheduler": "slurm",
        "host": info.ssh_host,  # type: ignore[attr-defined]
        "port": info.ssh_port,  # type: ignore[attr-defined]
        "user": info.ssh_user,  # type: ignore[attr-defined]
        "key_file": info.ssh_key,  # type: ignore[attr-defined]
        "known_hosts": info.known_hosts,  # type: ignore[attr-defined]
        "python": info.remote_python,  # type: ignore[attr-defined]
        "poll_interval": 1.0,
    }
    fields.update(overrides)
    return cl.Profile(**fields)  # type: ignore[arg-type]


def round_trips_of(
    transport: object, thread_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """A list that grows by one for each round trip ``transport`` makes on a thread whose
    name starts with ``thread_prefix`` (the submission thread's, push's settler...)."""
    import threading

    trips: list[str] = []
    count = transport._count_round_trip  # type: ignore[attr-defined]

    def counted() -> None:
        if threading.current_thread().name.startswith(thread_prefix):
            trips.append(threading.current_thread().name)
        count()

    monkeypatch.setattr(transport, "_count_round_trip", counted)
    return trips


def slurm_local_profile(tmp: Path, name: str = "sblocal", **overrides: object) -> cl.Profile:
    """A SLURM profile without SSH: JupyterLab on the login node (Open OnDemand style)."""
    return cl.Profile(
        name=name,
        scheduler="slurm",
        remote_dir=str(tmp / "slurmjobs"),
        poll_interval=1.0,
        **overrides,  # type: ignore[arg-type]
    )


def sge_profile(sandbox: object, sge_cell: object, name: str, tmp_name: str) -> cl.Profile:
    """A Grid Engine profile reaching the sandbox's cell over SSH, its jobs under a dir of
    its own (``~/.clusterlab-sge/<tmp_name>``, removed by :func:`remove_sge_dir`)."""
    return ssh_profile(
        sandbox,
        name,
        scheduler="sge",
        sge_settings=sge_cell.settings,  # type: ignore[attr-defined]
        remote_dir=f"~/.clusterlab-sge/{tmp_name}",
    )


def remove_sge_dir(sandbox: object, profile: cl.Profile, tmp_name: str) -> None:
    from clusterlab.core.runtime import get_runtime

    home = sandbox.user_home  # type: ignore[attr-defined]
    get_runtime(profile).transport.run(["rm", "-rf", "--", f"{home}/.clusterlab-sge/{tmp_name}"])


def _saved_profile(request: pytest.FixtureRequest, tmp_path: Path) -> cl.Profile:
    if request.param == "local":
        profile = cl.Profile(name="loc", scheduler="local", poll_interval=1.0, max_concurrent=8)
    elif request.param == "slurm-local":
        request.getfixturevalue("sandbox")
        profile = slurm_local_profile(tmp_path)
    else:
        profile = ssh_profile(request.getfixturevalue("sandbox"))
    profiles.save(profile)
    return profile


@pytest.fixture(params=["local", "slurm-local", "slurm-ssh"])
def any_profile(request: pytest.FixtureRequest, tmp_path: Path) -> cl.Profile:
    """The same behaviour tests run on every way of reaching a scheduler."""
    return _saved_profile(request, tmp_path)


@pytest.fixture(params=["slurm-local", "slurm-ssh"])
def slurm_profile(request: pytest.FixtureRequest, tmp_path: Path) -> cl.Profile:
    """Both SLURM transports."""
    return _saved_profile(request, tmp_path)


def pytest_configure(config: pytest.Config) -> None:
    """Every skip and its reason go to $CLUSTERLAB_SKIP_REPORT (scripts/check_skips.py)."""
    config.pluginmanager.register(SkipReport(), "clusterlab-skipreport")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for runtime in list(core._runtimes.values()):
        runtime.push.close()  # before their connections: a deliberate stop says nothing
    transports.close_all()
    from clusterlab.transports import sharedlogin

    sharedlogin.end_all(Path(os.environ["CLUSTERLAB_LOGIN_DIR"]))
    for runtime in list(core._runtimes.values()):
        runtime.backend.close()
