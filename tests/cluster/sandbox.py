"""Single-machine SLURM + SSH sandbox for clusterlab's integration tests.

Why: the extension talks to a real SLURM over real SSH, and mocks hide the failures
that matter (auth, quoting, job states). This module starts munged, slurmctld, slurmd
and a private sshd on 127.0.0.1 with all state under one base dir, never touching
/etc/slurm or the system sshd. It needs root and a Debian-like machine without systemd.
Slurm keeps its default ports (6817/6818), so run one sandbox per machine.

Usage: python tests/cluster/sandbox.py up|down|status|env
"""

from __future__ import annotations

import functools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests.cluster` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.cluster import accounting, nodes

PACKAGES = (
    "slurm-wlm",
    "munge",
    "slurmdbd",  # accounting: sacct, sshare, sacctmgr (tests/cluster/accounting.py)
    "mariadb-server",
    "openssh-server",
    "python3-venv",
    "libpam-oath",  # the one-time-code sshd (tests/cluster/logins.py)
    "oathtool",
    "podman",  # jobs in containers (tests/integration/test_container.py)
    "runc",
    "fuse-overlayfs",
    "uidmap",
    "openmpi-bin",  # launcher="mpirun" (tests/integration/test_mpirun.py)
)
# CPython's concurrent.futures tests, which tests/integration/test_executor_conformance.py
# runs against cl.Executor (installed when Debian has them for this Python).
TESTSUITE = f"libpython{sys.version_info.major}.{sys.version_info.minor}-testsuite"
PARTITION = "debug"  # the main node's default partition, which every older test uses
NODE_CPUS = 16  # oversubscribes the real cores via SlurmdParameters=config_overrides
# Partitions on the namespace nodes (tests/cluster/nodes.py). `multi` is for jobs that
# span both nodes; `low` jobs are requeued when a `high` job needs their nodes; `short`
# carries limits a discovery or refusal test can read.
MULTI_PARTITION = "multi"
PREEMPT_LOW = "low"
PREEMPT_HIGH = "high"
LIMITED_PARTITION = "short"
LIMITED_MAX_TIME = "00:10:00"
LIMITED_MAX_NODES = 1
CLUSTER_NAME = "clusterlab"
# A node whose slurmd stops answering is DOWN (its jobs NODE_FAIL) after this, not 300 s:
# node-failure tests (nodes.kill_node) take ~1 minute. Generous for a loaded 2-core box.
SLURMD_TIMEOUT_S = 30
CRED_EXPIRE_S = 20  # a requeued job may restart ~50 s after preemption (120 s by default)
USABLE_STATES = {"idle", "mixed", "allocated", "completing"}
HOME_ROOT = Path("/var/lib/clusterlab-sandbox/home")  # outside /tmp for StrictModes
# Bumped whenever `up` builds a different sandbox (6: MaxJobCount 50,000). A checkout
# with an older number finds the newer sandbox running and reuses it as it is instead of
# rebuilding it its own way
# (several clones of the project share one machine's sandbox, and Slurm's fixed ports
# allow only one; a rebuild with `slurmctld -c` would cancel everybody's jobs).
SANDBOX_VERSION = 6
# Slurm's default (10,000) counts every array task: issue 30's 10,000 live jobs plus the
# work flowing beside them passed it, and sbatch then retries for minutes ("Resource
# temporarily unavailable"). Real sites raise it (100,000 and more is common).
MAX_JOB_COUNT = 50_000


@dataclass
class SandboxInfo:
    """What tests need to reach the sandbox; also stored as <base>/sandbox.json."""

    base_dir: str
    slurm_conf: str
    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_key: str
    known_hosts: str
    remote_python: str
    user_home: str
    partition: str
    node_cpus: int
    node_memory_mb: int
    hostname: str
    # site-like logins (tests/cluster/logins.py): key + TOTP code, certificates only
    mfa_port: int = 0
    cert_port: int = 0
    login_known_hosts: str = ""
    cert_key: str = ""
    user_ca: str = ""
    otp_secret: str = ""
    sandbox_version: int = 0
    # version 2: namespace nodes, partitions with preemption and limits, accounting
    nodes: int = 1  # slurmd count, main node included
    node_names: list[str] = field(default_factory=list)  # the namespace nodes' names
    node_addresses: list[str] = field(default_factory=list)  # their bridge addresses
    multinode_cpus: int = 0  # CPUs each namespace node declares
    multinode_memory_mb: int = 0
    multi_partition: str = ""  # spans every namespace node, never preempted
    preempt_low: str = ""  # PreemptMode=REQUEUE, lower PriorityTier
    preempt_high: str = ""  # preempts `preempt_low` jobs on the same nodes
    limited_partition: str = ""  # MaxTime/MaxNodes limits below
    limited_max_time: str = ""
    limited_max_nodes: int = 0
    cred_expire_s: int = 0
    accounting: bool = False  # slurmdbd + MariaDB: sacct, sshare, sacctmgr work
    accounts: list[str] = field(default_factory=list)  # the ssh user's, default first
    default_account: str = ""
    cluster_name: str = ""
    # version 3: counted GPUs on the namespace nodes (gres, no hardware)
    gpu_type: str = ""
    gpus_per_node: int = 0
    # version 4: a second QOS; associations, QOS and their limits enforced at submit
    qos: list[str] = field(default_factory=list)  # the user's, default first
    limited_qos: str = ""
    limited_qos_max_wall: str = ""
    # version 5: SlurmdTimeout (a node killed with nodes.kill_node is DOWN within it)
    slurmd_timeout_s: int = 0


def base_dir() -> Path:
    """All sandbox state lives here, so `down` + `rm -rf` is a full reset."""
    return Path(os.environ.get("CLUSTERLAB_SANDBOX_DIR", "/tmp/clusterlab-sandbox"))


def user_name() -> str:
    return os.environ.get("CLUSTERLAB_SANDBOX_USER", "cltest")


def _p(name: str) -> Path:
    """Fixed layout inside the base dir so every function agrees on paths."""
    b = base_dir()
    return {
        "conf": b / "slurm" / "slurm.conf",
        "state": b / "slurm" / "state",
        "spool": b / "slurm" / "spool",
        "ctld_pid": b / "run" / "slurmctld.pid",
        "slurmd_pid": b / "run" / f"slurmd-{_host()}.pid",  # SlurmdPidFile's %n
        "slurmd_pid_v1": b / "run" / "slurmd.pid",  # before the namespace nodes
        "sshd_pid": b / "run" / "sshd.pid",
        "ctld_log": b / "log" / "slurmctld.log",
        "slurmd_log": b / "log" / f"slurmd-{_host()}.log",
        "sshd_log": b / "log" / "sshd.log",
        "jobcomp": b / "log" / "jobcomp.log",
        "gpus": b / "slurm" / "gpus",  # the namespace nodes' fake GPU device files
        "sshd_conf": b / "ssh" / "sshd_config",
        "host_key": b / "ssh" / "ssh_host_ed25519_key",
        "client_key": b / "ssh" / "client_ed25519",
        "known_hosts": b / "ssh" / "known_hosts",
        "json": b / "sandbox.json",
    }[name]


@functools.lru_cache(maxsize=1)
def _host() -> str:
    """The short hostname: SlurmctldHost and the main node's NodeName."""
    return _run("hostname", "-s").stdout.strip()


def _run(*cmd: str | Path, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a command without a shell, capturing text output."""
    kw.setdefault("capture_output", True)
    return subprocess.run([str(c) for c in cmd], check=check, text=True, **kw)


def _munge_ok() -> bool:
    """munged answers iff a credential can be made; cheaper than trusting pid files."""
    return shutil.which("munge") is not None and _run("munge", "-n", check=False).returncode == 0


def _slurm_env() -> dict[str, str]:
    return {**os.environ, "SLURM_CONF": str(_p("conf"))}


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _pid(pidfile: Path, exe: str) -> int | None:
    """PID from a pid file if that process is alive and is really `exe` (no pid reuse)."""
    try:
        pid = int(pidfile.read_text().split()[0])
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()[0].decode()
    except (OSError, ValueError, IndexError):
        return None
    # sshd retitles itself "sshd: /usr/sbin/sshd -D ... [listener]", hence the rstrip.
    return pid if os.path.basename(argv0.rstrip(":")) == exe else None


def _stop(pidfile: Path, exe: str, timeout: float = 10.0) -> bool:
    """SIGTERM then SIGKILL one daemon we started; returns whether it was running."""
    pid = _pid(pidfile, exe)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid(pidfile, exe) == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid(pidfile, exe) == pid:
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _pick_port(wanted: int) -> int:
    """Keep the port tests already know if it is free, else let the kernel pick one."""
    for port in (wanted, 0) if wanted else (0,):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return int(s.getsockname()[1])
            except OSError:
                continue
    raise RuntimeError("no free port on 127.0.0.1")


# --------------------------------------------------------------------------- setup


def ensure_packages() -> None:
    """Fresh CI machines lack the daemons; install them once, no-op when present."""
    out = _run("dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *PACKAGES, check=False)
    installed = {ln.split()[0] for ln in out.stdout.splitlines() if ln.endswith(" installed")}
    missing = [p for p in PACKAGES if p not in installed]
    suite = _run("dpkg-query", "-W", "-f", "${db:Status-Status}", TESTSUITE, check=False)
    need_suite = suite.stdout.strip() != "installed"
    if missing or need_suite:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        lock = ("-o", "DPkg::Lock::Timeout=600")  # a fresh machine's installer may hold it
        _run("apt-get", *lock, "update", env=env, capture_output=False)
        if need_suite and _apt_knows(TESTSUITE):
            missing.append(TESTSUITE)
        if missing:
            _run("apt-get", *lock, "install", "-y", *missing, env=env, capture_output=False)


def _apt_knows(package: str) -> bool:
    """Whether apt can install ``package`` (a pyenv Python may have no Debian twin)."""
    shown = _run("apt-cache", "show", package, check=False)
    return shown.returncode == 0 and bool(shown.stdout.strip())


def ensure_munge() -> None:
    """Slurm authenticates through munged; without systemd nobody else starts it."""
    if _munge_ok():
        return
    run_dir = Path("/run/munge")
    run_dir.mkdir(mode=0o755, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        _run("runuser", "-u", "munge", "--", "/usr/sbin/mungekey", "--create")
    _run("runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force")
    for _ in range(100):
        if _munge_ok():
            return
        time.sleep(0.05)
    raise RuntimeError("munged did not start; see /var/log/munge/munged.log")


def _node_memory_mb() -> int:
    out = _run("slurmd", "-C").stdout
    return int(out.split("RealMemory=")[1].split()[0])


def slurm_conf_text(host: str, memory_mb: int) -> str:
    """A slurm.conf tuned for fast tests (see /work/shared/ENVIRONMENT.md), with the
    namespace nodes, their partitions, preemption and accounting (version 2)."""
    extra = nodes.node_list()
    names = ",".join(n.name for n in extra)
    node_lines = "".join(
        f"NodeName={n.name} NodeAddr={n.address} CPUs={nodes.NODE_CPUS} "
        f"RealMemory={nodes.NODE_MEMORY_MB} Gres=gpu:{nodes.GPU_TYPE}:{nodes.GPUS_PER_NODE} "
        "State=UNKNOWN\n"
        for n in extra
    )
    part = f"MaxTime=INFINITE State=UP Nodes={names}"
    partitions = "".join(
        f"PartitionName={line}\n"
        for line in (
            f"{PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP PreemptMode=OFF",
            f"{MULTI_PARTITION} {part} PreemptMode=OFF",
            f"{PREEMPT_LOW} {part} PriorityTier=1 PreemptMode=REQUEUE",
            f"{PREEMPT_HIGH} {part} PriorityTier=2 PreemptMode=OFF",
            f"{LIMITED_PARTITION} Nodes={names} MaxTime={LIMITED_MAX_TIME} "
            f"MaxNodes={LIMITED_MAX_NODES} State=UP PreemptMode=OFF",
        )
    )
    return f"""\
ClusterName={CLUSTER_NAME}
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire={CRED_EXPIRE_S}
GresTypes=gpu
StateSaveLocation={_p("state")}
SlurmdSpoolDir={_p("spool")}/%n
SlurmctldPidFile={_p("ctld_pid")}
SlurmdPidFile={_p("ctld_pid").parent}/slurmd-%n.pid
SlurmctldLogFile={_p("ctld_log")}
SlurmdLogFile={_p("ctld_log").parent}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost={host}
AccountingStoragePort={accounting.DBD_PORT}
AccountingStorageEnforce=associations,limits,qos
PriorityType=priority/multifactor
PriorityWeightFairshare=10000
PriorityWeightAge=1000
JobCompType=jobcomp/filetxt
JobCompLoc={_p("jobcomp")}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
MpiDefault=none
MailProg=/bin/true
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
KillWait=2
SlurmdTimeout={SLURMD_TIMEOUT_S}
EnforcePartLimits=ALL
MinJobAge=300
MaxArraySize=1001
MaxJobCount={MAX_JOB_COUNT}
ReturnToService=2
SlurmdParameters=config_overrides
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName={host} CPUs={NODE_CPUS} RealMemory={memory_mb} State=UNKNOWN
{node_lines}\
{partitions}"""


def node_state(host: str) -> str | None:
    """The node's long state as sinfo reports it (e.g. 'idle', 'down*'), or None."""
    try:
        out = _run("sinfo", "-h", "-N", "-n", host, "-o", "%T", env=_slurm_env(), timeout=5)
    except (subprocess.SubprocessError, OSError):
        return None
    return out.stdout.strip() or None


def node_states() -> dict[str, str]:
    """Every node's long state in one sinfo call (a node in several partitions is one)."""
    try:
        out = _run("sinfo", "-h", "-N", "-o", "%N %T", env=_slurm_env(), timeout=5)
    except (subprocess.SubprocessError, OSError):
        return {}
    return dict(ln.split()[:2] for ln in out.stdout.splitlines() if len(ln.split()) >= 2)


def _node_pidfile(name: str) -> Path:
    return _p("ctld_pid").parent / f"slurmd-{name}.pid"


def _accounting() -> accounting.Accounting:
    return accounting.Accounting(base_dir(), _p("conf"))


def ensure_slurm(host: str, memory_mb: int, user: str, timeout: float = 30.0) -> None:
    """Reuse healthy daemons; otherwise (re)start them and wait until every node (the
    main one and the namespace ones) is usable. Accounting (MariaDB, slurmdbd, the
    user's associations) is made ready before slurmctld starts, so it registers at once."""
    conf = _p("conf")
    text = slurm_conf_text(host, memory_mb)
    extra = nodes.node_list()
    names = [host] + [n.name for n in extra]
    gres = _p("conf").with_name("gres.conf")
    gres_text = nodes.gres_conf_text(_p("gpus"), extra)
    changed = not conf.exists() or conf.read_text() != text
    changed = changed or not gres.exists() or gres.read_text() != gres_text
    if changed:
        _stop(_p("slurmd_pid_v1"), "slurmd")  # a version-1 sandbox's only slurmd
        for name in names:
            _stop(_node_pidfile(name), "slurmd")
        _stop(_p("ctld_pid"), "slurmctld")
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(text)
        conf.chmod(0o644)
        gres.write_text(gres_text)
        gres.chmod(0o644)
    nodes.ensure_gpu_devices(_p("gpus"), extra)
    for d in (_p("state"), _p("ctld_pid").parent, _p("ctld_log").parent):
        d.mkdir(parents=True, exist_ok=True)
    for name in names:
        (_p("spool") / name).mkdir(parents=True, exist_ok=True)
    acct = _accounting()
    acct.ensure_database()
    acct.ensure_slurmdbd(host)
    acct.ensure_associations(CLUSTER_NAME, user)
    ctld_ok = _pid(_p("ctld_pid"), "slurmctld") is not None
    alive = {name: _pid(_node_pidfile(name), "slurmd") is not None for name in names}
    if ctld_ok and all(alive.values()):
        states = node_states()
        if all(states.get(name) in USABLE_STATES for name in names):
            return
    nodes.ensure_network(host, extra)
    if not ctld_ok:
        # A fresh slurmctld only sees a node once its slurmd registers (seconds when
        # slurmd is left running), so restart the slurmds too: registration is immediate.
        for name in names:
            _stop(_node_pidfile(name), "slurmd")
        alive = dict.fromkeys(names, False)
        _start("/usr/sbin/slurmctld", "-c", "-f", conf)
    if not alive[host]:
        _start("/usr/sbin/slurmd", "-f", conf)
    for node in extra:
        if not alive[node.name]:
            _start(*nodes.slurmd_argv(node, conf))
    deadline = time.monotonic() + timeout
    states = {}
    while time.monotonic() < deadline:
        states = node_states()
        if all(states.get(name) in USABLE_STATES for name in names):
            return
        time.sleep(0.1)
    logs = "".join(
        f"--- slurmd-{name}.log ---\n{_tail(_p('ctld_log').parent / f'slurmd-{name}.log')}\n"
        for name in names
        if states.get(name) not in USABLE_STATES
    )
    raise RuntimeError(
        f"SLURM nodes not usable after {timeout}s (sinfo states: {states!r})\n"
        f"--- slurmctld.log ---\n{_tail(_p('ctld_log'))}\n{logs}"
    )


def _start(*argv: str | Path) -> None:
    """Start a daemon that forks into the background; its stderr in the error if not."""
    done = _run(*argv, check=False, env=_slurm_env())
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed: {done.stderr.strip()}")


def ensure_user(name: str) -> Path:
    """A throwaway login user: password `*` (not locked) so sshd lets it in without PAM."""
    try:
        home = Path(pwd.getpwnam(name).pw_dir)
    except KeyError:
        home = HOME_ROOT / name
        HOME_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        _run("useradd", "--create-home", "--home-dir", home, "--shell", "/bin/bash", name)
    if _run("getent", "shadow", name).stdout.split(":")[1] != "*":
        _run("usermod", "-p", "*", name)
    return home


def ensure_keys(name: str, home: Path) -> None:
    """Host and client keys live in the base dir; the client key is authorized for the user."""
    for key in (_p("host_key"), _p("client_key")):
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True)
            keygen = ("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "clusterlab-sandbox")
            _run(*keygen, "-f", key)
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    auth.write_text(_p("client_key").with_suffix(".pub").read_text())
    auth.chmod(0o600)
    for path in (ssh_dir, auth):
        shutil.chown(path, name, name)


# The remote environment differs from the client's on purpose (issue 13's preflight and
# missing-module tests): fewer packages (no six, PyYAML, toolz...) and packaging at an older
# version than the client venv's 26.4.
REMOTE_PACKAGES = ("cloudpickle", "numpy", "packaging==26.3")
_VENV_CHECK = (
    "import cloudpickle, numpy\n"
    "from importlib.metadata import version\n"
    "assert version('packaging') == '26.3', version('packaging')\n"
)


def _venv_has_packages(venv: Path) -> bool:
    """Whether the venv's site-packages holds REMOTE_PACKAGES' metadata (at the pinned
    versions): a few stat calls, where starting its Python to import numpy takes ~0.5 s
    of every warm `up` (once per test session of every checkout)."""
    for site in venv.glob("lib/python3*/site-packages"):
        found = {d.name.split("-")[0].lower(): d.name for d in site.glob("*.dist-info")}
        ok = True
        for req in REMOTE_PACKAGES:
            pkg, _, pinned = req.partition("==")
            have = found.get(pkg.lower().replace("-", "_"))
            if have is None or (pinned and not have.startswith(f"{pkg}-{pinned}.")):
                ok = False
        if ok:
            return True
    return False


def ensure_venv(name: str, home: Path) -> Path:
    """The user cannot run root's pyenv Python, so it gets a venv with cloudpickle (and
    numpy, which the payload benchmark sends), and an older packaging (see
    REMOTE_PACKAGES). Idempotent: a venv that passes the check is kept as it is."""
    py = home / "venv" / "bin" / "python"
    if py.exists() and _venv_has_packages(home / "venv"):
        return py
    check = ("runuser", "-u", name, "--", py, "-c", _VENV_CHECK)
    if py.exists() and _run(*check, check=False, cwd="/").returncode == 0:
        return py
    env = dict(os.environ)
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):  # keep pyenv's setup out
        env.pop(var, None)
    # pip runs as root so it reads root's pip.conf (index settings); then hand the venv over.
    _run("/usr/bin/python3", "-m", "venv", home / "venv", env=env)
    _run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *REMOTE_PACKAGES, env=env)
    _run("chown", "-R", f"{name}:{name}", home / "venv")
    _run(*check, cwd="/")
    return py


KERNEL_PACKAGES = ("cloudpickle", "ipykernel")


def ensure_kernel_venv(name: str, home: Path | str) -> Path:
    """A second venv for the test user with ipykernel (the notebook-kernel tests, issue 31):
    apart from ``venv``, whose missing packages other tests rely on (and whose lack of
    ipykernel the kernel tests show). Idempotent: a venv that imports both is kept."""
    home = Path(home)
    py = home / "kernelvenv" / "bin" / "python"
    check = ("runuser", "-u", name, "--", py, "-c", "import cloudpickle, ipykernel")
    if py.exists() and _run(*check, check=False, cwd="/").returncode == 0:
        return py
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    _run("/usr/bin/python3", "-m", "venv", home / "kernelvenv", env=env)
    _run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *KERNEL_PACKAGES, env=env)
    _run("chown", "-R", f"{name}:{name}", home / "kernelvenv")
    _run(*check, cwd="/")
    return py


def uv_dir(home: Path | str) -> Path:
    """Where the test user's ``uv`` lives: not on its PATH, so a profile chooses it (a
    setup line ``export PATH=<this>:$PATH``) and every other sync test builds with pip."""
    return Path(home) / "uv" / "bin"


def ensure_uv(name: str, home: Path) -> Path:
    """``uv`` for the test user, from PyPI's ``uv`` wheel (the binary ships inside it; no
    other download, here or when it builds). Idempotent: a working one is kept."""
    uv = uv_dir(home) / "uv"
    check = ("runuser", "-u", name, "--", uv, "--version")
    if uv.exists() and _run(*check, check=False, cwd="/").returncode == 0:
        return uv.parent
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    target = home / "uv"
    # pip runs as root so it reads root's pip.conf (index settings); then hand it over.
    _run(
        home / "venv" / "bin" / "python",  # (Debian's own pip refuses: PEP 668)
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "--no-deps",
        "--upgrade",
        "--target",
        target,
        "uv",
        env=env,
    )
    _run("chown", "-R", f"{name}:{name}", target)
    _run(*check, cwd="/")
    return uv.parent


def sshd_conf_text(port: int) -> str:
    return f"""\
ListenAddress 127.0.0.1
Port {port}
HostKey {_p("host_key")}
PidFile {_p("sshd_pid")}
UsePAM no
# The test user has no usable password ('*'); the key set-up test gives it a random
# one-off password for a few seconds to exercise password login, then removes it.
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
AllowTcpForwarding yes
SetEnv SLURM_CONF={_p("conf")}
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def ensure_sshd(port: int, timeout: float = 10.0) -> int:
    """Private sshd on loopback; returns the port (a new one if the old one was taken)."""
    conf = _p("sshd_conf")
    alive = _pid(_p("sshd_pid"), "sshd") is not None
    if alive and conf.exists() and conf.read_text() == sshd_conf_text(port) and _port_open(port):
        return port
    _stop(_p("sshd_pid"), "sshd")
    port = _pick_port(port)
    conf.write_text(sshd_conf_text(port))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    _p("sshd_log").parent.mkdir(parents=True, exist_ok=True)
    _p("sshd_pid").parent.mkdir(parents=True, exist_ok=True)
    _run("/usr/sbin/sshd", "-t", "-f", conf)  # config errors surface here, with stderr
    subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-f", str(conf), "-E", str(_p("sshd_log"))],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # survive the calling process (pytest, CLI)
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(port) and _pid(_p("sshd_pid"), "sshd"):
            return port
        time.sleep(0.02)
    raise RuntimeError(f"sshd not listening on {port}\n--- sshd.log ---\n{_tail(_p('sshd_log'))}")


def ensure_login_sshds(name: str, old: SandboxInfo | None) -> dict[str, object]:
    """The one-time-code sshd and the certificate-only sshd, beside the plain one."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.cluster import logins

    material = logins.ensure_material(base_dir(), name)
    d = base_dir() / "login"
    ports = {}
    for kind, wanted in (
        ("mfa", old.mfa_port if old else 0),
        ("cert", old.cert_port if old else 0),
    ):
        conf = d / f"{kind}_sshd_config"
        pidfile = d / f"{kind}_sshd.pid"

        def text(port: int, kind: str = kind) -> str:
            if kind == "mfa":
                return logins.mfa_conf_text(base_dir(), port, _p("host_key"), _p("conf"))
            return logins.cert_conf_text(base_dir(), port, _p("conf"))

        exe_name = logins.PAM_SERVICE if kind == "mfa" else "sshd"  # as it retitles itself
        if not wanted and conf.exists():  # sandbox.json written by an older checkout
            wanted = next((int(ln.split()[1]) for ln in conf.read_text().splitlines()
                           if ln.startswith("Port ")), 0)  # fmt: skip
        alive = _pid(pidfile, exe_name) is not None
        if (
            alive
            and wanted
            and conf.exists()
            and conf.read_text() == text(wanted)
            and _port_open(wanted)
        ):
            ports[kind] = wanted
            continue
        _stop(pidfile, exe_name)
        port = _pick_port(wanted)
        conf.write_text(text(port))
        exe = d / logins.PAM_SERVICE if kind == "mfa" else Path("/usr/sbin/sshd")
        _run(exe, "-t", "-f", conf)
        log = _p("sshd_log").with_name(f"{kind}_sshd.log")
        subprocess.Popen(
            [str(exe), "-D", "-f", str(conf), "-E", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not (_port_open(port) and _pid(pidfile, exe_name)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} sshd not listening on {port}\n{_tail(log)}")
            time.sleep(0.02)
        ports[kind] = port
    known = d / "known_hosts"
    known.write_text(
        logins.known_hosts_lines(base_dir(), ports["mfa"], ports["cert"], _p("host_key"))
    )
    known.chmod(0o644)
    return {
        "mfa_port": ports["mfa"],
        "cert_port": ports["cert"],
        "login_known_hosts": str(known),
        "cert_key": material["cert_key"],
        "user_ca": material["user_ca"],
        "otp_secret": material["otp_secret"],
    }


def _write_known_hosts(port: int) -> None:
    """paramiko/OpenSSH look up non-22 ports as `[host]:port`."""
    key_type, key_b64 = _p("host_key").with_suffix(".pub").read_text().split()[:2]
    _p("known_hosts").write_text(f"[127.0.0.1]:{port} {key_type} {key_b64}\n")
    _p("known_hosts").chmod(0o644)


# --------------------------------------------------------------------------- API


def load_info() -> SandboxInfo | None:
    """The info written by the last `up`, or None (does not check liveness)."""
    try:
        data = json.loads(_p("json").read_text())
        known = set(SandboxInfo.__dataclass_fields__)
        # A newer sandbox may store fields this checkout does not know yet.
        return SandboxInfo(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _reuse_newer(old: SandboxInfo) -> SandboxInfo:
    """A newer checkout's sandbox, used as it runs; refused with a sentence if it is down."""
    healthy = (
        _pid(_p("ctld_pid"), "slurmctld") is not None
        and node_state(old.hostname) in USABLE_STATES
        and _port_open(old.ssh_port)
    )
    if not healthy:
        raise RuntimeError(
            f"the sandbox in {base_dir()} was built by a newer checkout (version "
            f"{old.sandbox_version}, this one knows {SANDBOX_VERSION}) and is not running: "
            "run that checkout's `tests/cluster/sandbox.py up`, or `down` it first"
        )
    return old


def up() -> SandboxInfo:
    """Start (or reuse) the whole sandbox and return how to reach it."""
    if os.geteuid() != 0:
        raise PermissionError("the sandbox needs root (daemons, useradd)")
    base_dir().mkdir(mode=0o755, parents=True, exist_ok=True)
    base_dir().chmod(0o755)  # the test user must read slurm.conf
    old = load_info()
    if old and old.sandbox_version > SANDBOX_VERSION:
        return _reuse_newer(old)
    if old and old.sandbox_version < SANDBOX_VERSION:
        # Stamp the new version first: an older checkout whose `up` runs while this one
        # rebuilds then waits for (reuses) this sandbox instead of rewriting slurm.conf.
        _p("json").write_text(
            json.dumps({**asdict(old), "sandbox_version": SANDBOX_VERSION}, indent=2) + "\n"
        )
    ensure_packages()
    ensure_munge()
    host = _host()
    memory = old.node_memory_mb if old and old.hostname == host else _node_memory_mb()
    name = user_name()
    home = ensure_user(name)
    ensure_slurm(host, memory, name)
    ensure_keys(name, home)
    python = ensure_venv(name, home)
    ensure_uv(name, home)
    port = ensure_sshd(old.ssh_port if old else 0)
    _write_known_hosts(port)
    login_parts = ensure_login_sshds(name, old)
    extra = nodes.node_list()
    info = SandboxInfo(
        base_dir=str(base_dir()),
        slurm_conf=str(_p("conf")),
        ssh_host="127.0.0.1",
        ssh_port=port,
        ssh_user=name,
        ssh_key=str(_p("client_key")),
        known_hosts=str(_p("known_hosts")),
        remote_python=str(python),
        user_home=str(home),
        partition=PARTITION,
        node_cpus=NODE_CPUS,
        node_memory_mb=memory,
        hostname=host,
        **login_parts,  # type: ignore[arg-type]
        sandbox_version=SANDBOX_VERSION,
        nodes=1 + len(extra),
        node_names=[n.name for n in extra],
        node_addresses=[n.address for n in extra],
        multinode_cpus=nodes.NODE_CPUS,
        multinode_memory_mb=nodes.NODE_MEMORY_MB,
        multi_partition=MULTI_PARTITION,
        preempt_low=PREEMPT_LOW,
        preempt_high=PREEMPT_HIGH,
        limited_partition=LIMITED_PARTITION,
        limited_max_time=LIMITED_MAX_TIME,
        limited_max_nodes=LIMITED_MAX_NODES,
        cred_expire_s=CRED_EXPIRE_S,
        accounting=True,
        accounts=list(accounting.ACCOUNTS),
        default_account=accounting.ACCOUNTS[0],
        cluster_name=CLUSTER_NAME,
        gpu_type=nodes.GPU_TYPE,
        gpus_per_node=nodes.GPUS_PER_NODE,
        qos=list(accounting.QOS),
        limited_qos=accounting.EXTRA_QOS,
        limited_qos_max_wall=accounting.EXTRA_QOS_MAX_WALL,
        slurmd_timeout_s=SLURMD_TIMEOUT_S,
    )
    _p("json").write_text(json.dumps(asdict(info), indent=2) + "\n")
    return info


def down() -> None:
    """Cancel jobs, stop every daemon the sandbox started and remove the namespace
    nodes' network (munged is left running; the database files stay for the next up)."""
    extra = nodes.node_list()
    if _pid(_p("ctld_pid"), "slurmctld"):
        for part in (PARTITION, MULTI_PARTITION, PREEMPT_LOW, PREEMPT_HIGH, LIMITED_PARTITION):
            _run("scancel", "--partition", part, check=False, env=_slurm_env(), timeout=10)
    _stop(_p("sshd_pid"), "sshd")
    for kind, exe in (("mfa", "clusterlab-mfa-sshd"), ("cert", "sshd")):
        _stop(base_dir() / "login" / f"{kind}_sshd.pid", exe)
    _stop(_p("slurmd_pid_v1"), "slurmd")
    for name in [_host()] + [n.name for n in extra]:
        _stop(_node_pidfile(name), "slurmd")
    _stop(_p("ctld_pid"), "slurmctld")
    acct = _accounting()
    acct.stop_slurmdbd()
    acct.stop_database()
    nodes.remove_network(extra)


def status() -> dict[str, object]:
    """What is running now, for humans (CLI) and for fixtures deciding whether to call up()."""
    info = load_info()
    port = info.ssh_port if info else None
    return {
        "base_dir": str(base_dir()),
        "munged": _munge_ok(),
        "slurmctld_pid": _pid(_p("ctld_pid"), "slurmctld"),
        "slurmd_pid": _pid(_p("slurmd_pid"), "slurmd"),
        "node_slurmd_pids": {
            n.name: _pid(_node_pidfile(n.name), "slurmd") for n in nodes.node_list()
        },
        "slurmdbd_pid": _pid(_accounting().dbd_pid, "slurmdbd"),
        "mariadb_pid": _pid(_accounting().db_pid, "mariadbd"),
        "sshd_pid": _pid(_p("sshd_pid"), "sshd"),
        "ssh_port": port,
        "ssh_listening": bool(port and _port_open(port)),
        "node_state": node_state(info.hostname) if info and _p("conf").exists() else None,
        "node_states": node_states() if _p("conf").exists() else {},
    }


def env_lines() -> list[str]:
    """Shell exports so `eval "$(python sandbox.py env)"` points sinfo/sbatch at the sandbox."""
    return [f"export SLURM_CONF={_p('conf')}", f"export CLUSTERLAB_SANDBOX_DIR={base_dir()}"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("up", "down", "status", "env"):
        print("usage: sandbox.py up|down|status|env", file=sys.stderr)
        return 2
    cmd = args[0]
    if cmd == "up":
        print(json.dumps(asdict(up()), indent=2))
    elif cmd == "down":
        down()
        print("sandbox stopped")
    elif cmd == "status":
        st = status()
        print(json.dumps(st, indent=2))
        return 0 if st["slurmctld_pid"] and st["sshd_pid"] else 1
    else:
        print("\n".join(env_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
