"""A notebook's kernel in a SLURM job of the sandbox, over SSH (issue 31), driven the way
JupyterLab drives it: jupyter_client's KernelManager with a kernelspec from
``cl.kernels.install`` in a private JUPYTER_DATA_DIR."""

from __future__ import annotations

import logging
import re
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from tests.conftest import slurm_local_profile, slurm_state, ssh_profile

pytestmark = pytest.mark.timeout(240)
jupyter_client = pytest.importorskip("jupyter_client")


@pytest.fixture
def jupyter_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "jupyter"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    monkeypatch.setenv("JUPYTER_PATH", str(data))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return data


@pytest.fixture
def kernel_profile(sandbox: Any, jupyter_dirs: Path) -> cl.Profile:
    """The sandbox over SSH with a cluster Python that has ipykernel."""
    from tests.cluster import sandbox as sb

    python = sb.ensure_kernel_venv(sandbox.ssh_user, sandbox.user_home)
    profile = ssh_profile(sandbox, "kern", python=str(python))
    cl.profiles.save(profile)
    return profile


def _run(kc: Any, code: str) -> str:
    """Run ``code`` in the kernel; its stdout."""
    out: list[str] = []
    reply = kc.execute_interactive(
        code,
        timeout=60,
        output_hook=lambda m: (
            out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None
        ),
    )
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out).strip()


def _client(km: Any) -> Any:
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return kc


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _active(native_id: str) -> bool:
    """Whether the job still holds (or waits for) its allocation; a job that is ending is
    waited for first: its node still cleans up (COMPLETING), or its result is in while
    its batch script still exits (RUNNING for a moment). A job left behind stays."""
    deadline = time.monotonic() + 30
    while slurm_state(native_id) in ("RUNNING", "COMPLETING") and time.monotonic() < deadline:
        time.sleep(0.2)
    return slurm_state(native_id) in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")


def test_kernel_runs_in_a_slurm_job_interrupts_restarts_and_leaves_nothing(
    kernel_profile: cl.Profile,
) -> None:
    from jupyter_client.manager import KernelManager

    info = cl.kernels.install("kern", cores=1, memory="200MB", time="0:10:00")
    km = KernelManager(kernel_name=info.name)
    km.start_kernel()
    kc = None
    try:
        kc = _client(km)
        job_id, pid = _run(kc, "import os; print(os.environ['SLURM_JOB_ID'], os.getpid())").split()
        assert slurm_state(job_id) == "RUNNING"
        assert any(r.native_id == job_id for r in cl.jobs(profile="kern"))  # the jobs panel
        # the key: owner-only files on the cluster, never in the batch script
        prov: Any = km.provisioner
        control = Path(prov.control)
        assert stat.S_IMODE(control.stat().st_mode) == 0o700
        (connection,) = control.glob("connection-*.json")
        assert stat.S_IMODE(connection.stat().st_mode) == 0o600
        assert km.session.key.decode() not in prov.job.job_script()

        # interrupt: a long cell ends with KeyboardInterrupt within seconds
        msg_id = kc.execute("import time; time.sleep(600)")
        while True:  # wait until the cell runs (its busy status) before interrupting
            msg = kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
                break
        time.sleep(0.5)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=20)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        kc.stop_channels()

        # restart: a new kernel process in the same allocation
        old_ports = [km.shell_port, km.iopub_port, km.stdin_port, km.control_port, km.hb_port]
        km.restart_kernel()
        kc = _client(km)
        job_again, pid_again = _run(
            kc, "import os; print(os.environ['SLURM_JOB_ID'], os.getpid())"
        ).split()
        assert job_again == job_id
        assert pid_again != pid
        assert not any(_listening(p) for p in old_ports)  # the first kernel's forwards went
        ports = [km.shell_port, km.iopub_port, km.stdin_port, km.control_port, km.hb_port]
    finally:
        if kc is not None:
            kc.stop_channels()
        km.shutdown_kernel()
    assert not _active(job_id), slurm_state(job_id)
    assert not any(_listening(p) for p in ports)  # no forward left listening here
    assert not control.exists()  # the connection file (the key) went with it


def test_without_ssh_the_kernel_is_reached_directly(
    sandbox: Any, jupyter_dirs: Path, tmp_path: Path
) -> None:
    """JupyterLab on the login node (no SSH): no forward, the client goes to the node."""
    import sys

    from jupyter_client.manager import KernelManager

    cl.profiles.save(slurm_local_profile(tmp_path, "kernlocal", python=sys.executable))
    info = cl.kernels.install("kernlocal", cores=1, memory="200MB", time="0:05:00")
    km = KernelManager(kernel_name=info.name)
    km.start_kernel()
    try:
        assert km.provisioner is not None and km.provisioner.forwards is None  # type: ignore[attr-defined]
        kc = _client(km)
        job_id = _run(kc, "import os; print(os.environ['SLURM_JOB_ID'])")
        kc.stop_channels()
        assert slurm_state(job_id) == "RUNNING"
    finally:
        km.shutdown_kernel()
    assert not _active(job_id), slurm_state(job_id)


def test_a_cluster_python_without_ipykernel_is_named(sandbox: Any, jupyter_dirs: Path) -> None:
    from jupyter_client.manager import KernelManager

    cl.profiles.save(ssh_profile(sandbox, "noipk"))  # the sandbox's venv lacks ipykernel
    info = cl.kernels.install("noipk", cores=1, memory="100MB", time="0:05:00")
    km = KernelManager(kernel_name=info.name)
    with pytest.raises(RuntimeError, match=r"has no ipykernel.*-m pip install ipykernel"):
        km.start_kernel()


def test_a_kernel_that_dies_at_start_says_why(
    kernel_profile: cl.Profile, sandbox: Any, tmp_path: Path
) -> None:
    """ipykernel that cannot start (here a module shadowing its launcher on PYTHONPATH):
    its own output is in the error, and the allocation is given back."""
    from jupyter_client.manager import KernelManager

    from clusterlab.core.runtime import get_runtime

    shadow = f"{sandbox.user_home}/kernel-shadow-{tmp_path.name}"
    profile = kernel_profile.replace(name="kernbroken", env={"PYTHONPATH": shadow})
    cl.profiles.save(profile)
    transport = get_runtime(profile).transport
    crash = "raise SystemExit('this ipykernel_launcher cannot start')"
    made = transport.run(
        ["sh", "-c", 'mkdir -p -- "$1" && printf "%s\\n" "$2" > "$1/ipykernel_launcher.py"',
         "sh", shadow, crash]
    )  # fmt: skip
    assert made.returncode == 0, made.err
    try:
        info = cl.kernels.install("kernbroken", cores=1, memory="200MB", time="0:05:00")
        km = KernelManager(kernel_name=info.name)
        with pytest.raises(
            RuntimeError,
            match=r"(?s)exited with code 1 before it listened; its last output:\n"
            r".*this ipykernel_launcher cannot start",
        ):
            km.start_kernel()
        prov: Any = km.provisioner
        assert not _active(prov.job.native_id)
    finally:
        transport.run(["rm", "-rf", "--", shadow])


def test_a_kernel_that_cannot_start_in_time_is_cancelled(
    kernel_profile: cl.Profile, caplog: pytest.LogCaptureFixture
) -> None:
    """The queue's reason reaches the server's log and the failure's sentence; the job
    does not stay queued."""
    from jupyter_client.manager import KernelManager

    info = cl.kernels.install(
        "kern", name="late", cores=1, time="0:05:00", extra=["--begin=now+3600"],
        start_timeout=8,
    )  # fmt: skip
    km = KernelManager(kernel_name=info.name)
    caplog.set_level(logging.INFO)
    waiting = r"pending: waiting for its requested start time"
    with pytest.raises(
        TimeoutError, match=rf"did not start within 8 s \({waiting}\); it was cancel"
    ):
        km.start_kernel()
    assert re.search(rf"kernel job \d+ {waiting}", caplog.text)
    job = km.provisioner.job if km.provisioner else None  # type: ignore[attr-defined]
    native = job.native_id if job is not None else ""
    assert native
    assert not _active(native)
    out = subprocess.run(["squeue", "--noheader", "--format=%i"], capture_output=True, text=True)
    assert native not in out.stdout.split()


_SERVER = """
import sys, time
from jupyter_client.manager import KernelManager
km = KernelManager(kernel_name=sys.argv[1])
km.start_kernel()
ports = [km.shell_port, km.iopub_port, km.stdin_port, km.control_port, km.hb_port]
print(km.provisioner.job.native_id, *ports, flush=True)
time.sleep(600)
"""


def test_a_kernel_whose_server_died_is_adopted_not_submitted_again(
    kernel_profile: cl.Profile, caplog: pytest.LogCaptureFixture
) -> None:
    """A Jupyter server killed -9 leaves its kernel job running; the next start of the
    same kernelspec runs in that job (no second queue wait, no allocation left behind)."""
    import sys

    from jupyter_client.manager import KernelManager

    from clusterlab.config.paths import data_dir

    info = cl.kernels.install("kern", name="adopt", cores=1, memory="200MB", time="0:10:00")
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, info.name], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        first, *old_ports = server.stdout.readline().split()
        assert slurm_state(first) == "RUNNING"
    finally:
        server.kill()  # the server dies without shutting its kernel down
        server.wait()
    assert slurm_state(first) == "RUNNING"

    caplog.set_level(logging.INFO)
    km = KernelManager(kernel_name=info.name)
    km.start_kernel()
    try:
        kc = _client(km)
        job_id = _run(kc, "import os; print(os.environ['SLURM_JOB_ID'])")
        kc.stop_channels()
        assert job_id == first
        assert f"adopted kernel job {first}" in caplog.text
        assert not any(_listening(int(p)) for p in old_ports)  # the dead server's forwards
    finally:
        km.shutdown_kernel()
    assert not _active(first), slurm_state(first)
    assert not list((data_dir() / "kernels").glob("*.json"))  # nothing left to adopt


def test_preflight_names_a_missing_ipykernel_as_a_note(
    kernel_profile: cl.Profile, sandbox: Any
) -> None:
    """`profiles.check` (the panel's "test connection"): a cluster Python without
    ipykernel is named, with what to run, yet the profile stays ready for functions."""
    cl.profiles.save(ssh_profile(sandbox, "noipk2"))  # the sandbox's venv lacks ipykernel
    report = cl.profiles.check("noipk2")
    line = next(ln for ln in report.lines if ln.name == "ipykernel")
    assert report.ok, str(report)
    assert line.level == "warning"
    assert re.search(r"not installed for \S+python\S*: functions and cells run without it",
                     line.detail)  # fmt: skip
    assert "-m pip install ipykernel` there" in line.detail
    assert "[warn] ipykernel: not installed" in str(report)

    ready = next(ln for ln in cl.profiles.check("kern").lines if ln.name == "ipykernel")
    assert ready.level == "ok"
    assert "a notebook kernel can run on this cluster (`clusterlab kernel install kern`)" in (
        ready.detail
    )


_FROM_THE_KERNEL = """
import os, shutil, socket, tempfile
home = tempfile.mkdtemp()  # this kernel's own clusterlab dirs (profiles, ledger)
os.environ.update(CLUSTERLAB_CONFIG_DIR=home + "/config", CLUSTERLAB_DATA_DIR=home + "/data")
import clusterlab as cl

@cl.cluster("local")
def where():
    import os, socket
    return os.environ.get("SLURM_JOB_ID"), socket.gethostname()

inside = where.submit().result(timeout=60)
shutil.rmtree(home)
print(*inside, os.environ["SLURM_JOB_ID"], socket.gethostname())
"""


def test_cluster_functions_run_from_inside_a_cluster_kernel(
    sandbox: Any, jupyter_dirs: Path, tmp_path: Path
) -> None:
    """`@cl.cluster("local")` in a notebook whose kernel runs in a SLURM job: the function
    runs as a job inside that allocation (same SLURM job, same node) and returns."""
    import sys

    from jupyter_client.manager import KernelManager

    cl.profiles.save(slurm_local_profile(tmp_path, "kerninner", python=sys.executable))
    info = cl.kernels.install("kerninner", cores=1, memory="300MB", time="0:05:00")
    km = KernelManager(kernel_name=info.name)
    km.start_kernel()
    try:
        kc = _client(km)
        job, host, kernel_job, kernel_host = _run(kc, _FROM_THE_KERNEL).split()
        kc.stop_channels()
    finally:
        km.shutdown_kernel()
    assert (job, host) == (kernel_job, kernel_host)
    assert not _active(kernel_job), slurm_state(kernel_job)
