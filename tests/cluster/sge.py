"""A single-machine Grid Engine cell for clusterlab's integration tests.

Why: the ``sge`` backend talks to a real Grid Engine (Debian's gridengine 8.1.9), and a fake
would hide what matters (qsub's and qstat's real output, task numbering, how finished jobs
leave the queue). This module installs the packages if needed and runs a cell of its own,
``clusterlab`` on ports 6454/6455, beside anything else: the packages' ``default`` cell is
left alone (not started). Its state is in the cell directory ``$SGE_ROOT/clusterlab`` and
under one base dir (spools, logs); ``down`` stops the daemons, ``reset`` also forgets the
cell. Needs root and a Debian-like machine without systemd. Facts it relies on are in
/work/shared/ENVIRONMENT.md ("Grid Engine").

Clients reach the cell through its settings file (SGE_ROOT, SGE_CELL, the ports and PATH to
the real binaries): the ``q*`` wrappers in /usr/bin silently fall back to the default cell.
Root cannot submit (min_uid 1000): tests submit as the SLURM sandbox's SSH user.

Usage: python tests/cluster/sge.py up|down|reset|status|env
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PACKAGES = ("gridengine-master", "gridengine-exec", "gridengine-client")
CONFLICTS = ("slurm-wlm-torque",)  # ships its own qsub/qstat; apt would remove it
SGE_ROOT = Path("/var/lib/gridengine")
ADMIN = "sgeadmin"  # made by gridengine-common
BIN = Path("/usr/lib/gridengine")  # the real binaries ($SGE_ROOT/bin/lx-amd64 links here)
QUEUE = "all.q"
PE = "smp"
SLOTS = 16  # oversubscribes the real cores, as the SLURM sandbox does
# Added to a running cell (ensure_extras), outside the fingerprinted files, so a checkout
# whose sge.py predates them reuses the cell instead of rebuilding it without them.
MPI_PE = "mpi"  # slots spread over hosts ($fill_up), tasks started under the execd
LIMITED_QUEUE = "short.q"  # a queue with a run-time limit, for discovery and refusals
LIMITED_H_RT = "00:10:00"
LIMITED_SLOTS = 4
LIMITED_SEQ_NO = 10  # all.q (seq_no 0) is filled first: short.q takes only the overflow


@dataclass
class SgeInfo:
    """What tests need to reach the cell; also stored as <base>/sge.json."""

    base_dir: str
    sge_root: str
    cell: str
    qmaster_port: int
    execd_port: int
    settings: str  # $SGE_ROOT/$SGE_CELL/common/settings.sh
    hostname: str
    queue: str
    pe: str
    slots: int
    mpi_pe: str = ""
    limited_queue: str = ""
    limited_h_rt: str = ""
    limited_slots: int = 0


def base_dir() -> Path:
    return Path(os.environ.get("CLUSTERLAB_SGE_DIR", "/tmp/clusterlab-sge"))


def cell() -> str:
    return os.environ.get("CLUSTERLAB_SGE_CELL", "clusterlab")


def ports() -> tuple[int, int]:
    qmaster = int(os.environ.get("CLUSTERLAB_SGE_PORT", "6454"))
    return qmaster, qmaster + 1


def _p(name: str) -> Path:
    b, common = base_dir(), SGE_ROOT / cell() / "common"
    return {
        "cell": SGE_ROOT / cell(),
        "common": common,
        "settings": common / "settings.sh",
        "spool": b / "spool",  # qmaster's spool: objects as flat files, messages, pid
        "execd": b / "execd",  # execd_spool_dir (<host>/messages, execd.pid)
        "templates": b / "templates",
        "stamp": b / "config.sha256",
        "json": b / "sge.json",
    }[name]


def _run(*cmd: str | Path, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    kw.setdefault("capture_output", True)
    return subprocess.run([str(c) for c in cmd], check=check, text=True, **kw)


def _env() -> dict[str, str]:
    """What the settings file gives a client; daemons get it too."""
    qmaster, execd = ports()
    return {
        **os.environ,
        "SGE_ROOT": str(SGE_ROOT),
        "SGE_CELL": cell(),
        "SGE_QMASTER_PORT": str(qmaster),
        "SGE_EXECD_PORT": str(execd),
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }


def _sge(*cmd: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """A Grid Engine command against this cell (the real binary, not the /usr/bin wrapper)."""
    return _run(BIN / cmd[0], *cmd[1:], check=check, env=_env(), timeout=timeout)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- packages


def ensure_packages() -> None:
    """Install the three packages once, non-interactively; a no-op when present."""
    out = _run(
        "dpkg-query",
        "-W",
        "-f",
        "${Package} ${db:Status-Status}\n",
        *PACKAGES,
        *CONFLICTS,
        check=False,
    )
    installed = {ln.split()[0] for ln in out.stdout.splitlines() if ln.endswith(" installed")}
    clash = [p for p in CONFLICTS if p in installed]
    if clash:
        raise RuntimeError(
            f"{', '.join(clash)} is installed and conflicts with gridengine-client (both ship "
            "qsub/qstat); installing Grid Engine would remove it, so remove it by hand first"
        )
    missing = [p for p in PACKAGES if p not in installed]
    if not missing:
        return
    host = _run("hostname", "-s").stdout.strip()
    # The packages ask whether to configure a cell, its name and its master (shared
    # templates, owned by each of the four packages): answer like a plain install would.
    answers = "".join(
        f"{pkg} shared/gridengineconfig boolean true\n"
        f"{pkg} shared/gridenginecell string default\n"
        f"{pkg} shared/gridenginemaster string {host}\n"
        for pkg in ("gridengine-common", *PACKAGES)
    )
    _run("debconf-set-selections", input=answers)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # postinst would start the default cell's daemons (and exim4's); where nothing forbids
    # that already, a policy-rc.d does for the time of the install (101: action forbidden).
    policy = Path("/usr/sbin/policy-rc.d")
    ours = not policy.exists()
    if ours:
        policy.write_text(
            "#!/bin/sh\n# clusterlab tests/cluster/sge.py, during apt-get\nexit 101\n"
        )
        policy.chmod(0o755)
    try:
        shown = _run("apt-cache", "policy", *missing, check=False).stdout
        if "Candidate: (none)" in shown or not shown.strip():
            _apt("update", env=env)
        _apt("install", "-y", "-q", "--no-install-recommends", *missing, env=env)
    finally:
        if ours:
            policy.unlink(missing_ok=True)


def _apt(*args: str, env: dict[str, str]) -> None:
    """apt-get, its output kept for the error (stdout is `up`'s JSON)."""
    res = _run("apt-get", "-o", "DPkg::Lock::Timeout=600", *args, env=env, check=False)
    if res.returncode != 0:
        said = "\n".join((res.stdout + res.stderr).splitlines()[-25:])
        raise RuntimeError(f"apt-get {args[0]} failed ({res.returncode}):\n{said}")


# --------------------------------------------------------------------------- the cell


def _files(host: str) -> dict[str, str]:
    """Every file the cell is made from, by path relative to the cell or the base dir."""
    qmaster_port, execd_port = ports()
    limits = "\n".join(
        f"{kind}_{res:<17}INFINITY"
        for res in ("rt", "cpu", "fsize", "data", "stack", "core", "rss", "vmem")
        for kind in "sh"
    )
    return {
        # where qmaster keeps things; classic spooling survives a SIGKILL without recovery
        "cell:common/bootstrap": f"""\
admin_user              {ADMIN}
default_domain          none
ignore_fqdn             true
spooling_method         classic
spooling_lib            libspoolc
spooling_params         {_p("common")};{_p("spool")}
binary_path             {BIN}
qmaster_spool_dir       {_p("spool")}
security_mode           none
listener_threads        2
worker_threads          2
scheduler_threads       1
""",
        "cell:common/act_qmaster": f"{host}\n",
        # The short name resolves to 127.0.0.1, whose reverse name is localhost: without
        # this every client is refused ("denied: host ... is neither submit nor admin").
        "cell:common/host_aliases": f"{host} localhost\n",
        # What users source; unlike Debian's own it sets the ports and PATH as well.
        "cell:common/settings.sh": f"""\
SGE_ROOT={SGE_ROOT}; export SGE_ROOT
SGE_CELL={cell()}; export SGE_CELL
SGE_ARCH=lx-amd64; export SGE_ARCH
SGE_QMASTER_PORT={qmaster_port}; export SGE_QMASTER_PORT
SGE_EXECD_PORT={execd_port}; export SGE_EXECD_PORT
case ":$PATH:" in *":$SGE_ROOT/bin/$SGE_ARCH:"*) ;; *) PATH="$SGE_ROOT/bin/$SGE_ARCH:$PATH" ;; esac
export PATH
""",
        "base:templates/configuration": "".join(
            f"{k:<22} {v}\n"
            for k, v in {
                "conf_version": "0",
                "execd_spool_dir": str(_p("execd")),
                "mailer": "/bin/true",
                "xterm": "/usr/bin/xterm",
                "load_sensor": "none",
                "prolog": "none",
                "epilog": "none",
                "shell_start_mode": "posix_compliant",
                "login_shells": "bash,sh,ksh,csh,tcsh",
                "min_uid": "1000",  # as shipped: root cannot submit
                "min_gid": "1000",
                "user_lists": "none",
                "xuser_lists": "none",
                "projects": "none",
                "xprojects": "none",
                "enforce_project": "false",
                "enforce_user": "auto",
                "load_report_time": "00:00:10",
                "max_unheard": "00:05:00",
                "reschedule_unknown": "00:00:00",
                "loglevel": "log_warning",
                "administrator_mail": "none",
                "set_token_cmd": "none",
                "pag_cmd": "none",
                "token_extend_time": "none",
                "shepherd_cmd": "none",
                "qmaster_params": "none",
                "execd_params": "none",
                # accounting (qacct) written every second, so finished jobs are found there
                "reporting_params": "accounting=true reporting=false flush_time=00:00:01 "
                "joblog=false sharelog=00:00:00",
                "finished_jobs": "100",
                "gid_range": "65400-65500",
                "qlogin_command": "builtin",
                "qlogin_daemon": "builtin",
                "rlogin_command": "builtin",
                "rlogin_daemon": "builtin",
                "rsh_command": "builtin",
                "rsh_daemon": "builtin",
                "max_aj_instances": "2000",
                "max_aj_tasks": "75000",
                "max_u_jobs": "0",
                "max_jobs": "0",
                "auto_user_oticket": "0",
                "auto_user_fshare": "0",
                "auto_user_default_project": "none",
                "auto_user_delete_time": "86400",
                "delegated_file_staging": "false",
                "reprioritize": "0",
                "jsv_url": "none",
                "jsv_allowed_mod": "ac,h,i,e,o,j,M,N,p,w",
            }.items()
        ),
        f"base:templates/adminhosts/{host}": f"hostname {host}\n",
        f"base:templates/submithosts/{host}": f"hostname {host}\n",
        f"base:templates/exechosts/{host}": f"""\
hostname              {host}
load_scaling          NONE
complex_values        NONE
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
""",
        # cores: `-pe smp N` takes N slots on one host
        f"base:templates/pe/{PE}": f"""\
pe_name            {PE}
slots              999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    $pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
""",
        # no load threshold: 16 slots on 2 cores would put the queue in alarm state
        f"base:templates/cqueues/{QUEUE}": f"""\
qname                 {QUEUE}
hostlist              {host}
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               {PE}
rerun                 FALSE
slots                 {SLOTS}
tmpdir                /tmp
shell                 /bin/sh
prolog                NONE
epilog                NONE
shell_start_mode      posix_compliant
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
{limits}
""",
        # 1 s scheduling and scheduling on every submit/finish: ~1 s per job, not 15
        "base:templates/sched_configuration": "".join(
            f"{k:<32} {v}\n"
            for k, v in {
                "algorithm": "default",
                "schedule_interval": "0:0:1",
                "maxujobs": "0",
                "queue_sort_method": "load",
                "job_load_adjustments": "NONE",
                "load_adjustment_decay_time": "0:0:0",
                "load_formula": "np_load_avg",
                "schedd_job_info": "false",
                "flush_submit_sec": "1",
                "flush_finish_sec": "1",
                "params": "none",
                "reprioritize_interval": "0:0:0",
                "halftime": "168",
                "usage_weight_list": "cpu=1.000000,mem=0.000000,io=0.000000",
                "compensation_factor": "5.000000",
                "weight_user": "0.250000",
                "weight_project": "0.250000",
                "weight_department": "0.250000",
                "weight_job": "0.250000",
                "weight_tickets_functional": "0",
                "weight_tickets_share": "0",
                "share_override_tickets": "TRUE",
                "share_functional_shares": "TRUE",
                "max_functional_jobs_to_schedule": "200",
                "report_pjob_tickets": "TRUE",
                "max_pending_tasks_per_job": "50",
                "halflife_decay_list": "none",
                "policy_hierarchy": "OFS",
                "weight_ticket": "0.010000",
                "weight_waiting_time": "0.000000",
                "weight_deadline": "3600000.000000",
                "weight_urgency": "0.100000",
                "weight_priority": "1.000000",
                "max_reservation": "0",
                "default_duration": "INFINITY",
            }.items()
        ),
    }


def _extra_files(files: dict[str, str]) -> dict[str, str]:
    """The `mpi` PE and the limited queue, as qconf -Ap/-Aq files (the queue is all.q's
    file with its own name, sequence number, slots, PEs and h_rt)."""
    smp = files[f"base:templates/pe/{PE}"]
    mpi = (
        smp.replace(f"pe_name            {PE}", f"pe_name            {MPI_PE}")
        .replace("allocation_rule    $pe_slots", "allocation_rule    $fill_up")
        .replace("control_slaves     FALSE", "control_slaves     TRUE")
        .replace("job_is_first_task  TRUE", "job_is_first_task  FALSE")
    )
    queue = []
    for line in files[f"base:templates/cqueues/{QUEUE}"].splitlines():
        key = line.split(" ", 1)[0]
        value = {
            "qname": LIMITED_QUEUE,
            "seq_no": str(LIMITED_SEQ_NO),
            "slots": str(LIMITED_SLOTS),
            "pe_list": f"{PE} {MPI_PE}",
            "h_rt": LIMITED_H_RT,
        }.get(key)
        queue.append(line if value is None else f"{key:<22}{value}")
    return {MPI_PE: mpi, LIMITED_QUEUE: "\n".join(queue) + "\n"}


def ensure_extras(files: dict[str, str]) -> None:
    """Add what is missing of the extras to the running cell (idempotent, additive)."""
    extra = _extra_files(files)
    where = _p("templates") / "extras"
    where.mkdir(mode=0o755, parents=True, exist_ok=True)
    for name, text in extra.items():
        (where / name).write_text(text)
    if MPI_PE not in _sge("qconf", "-spl").stdout.split():
        _sge("qconf", "-Ap", str(where / MPI_PE))
    shown = _sge("qconf", "-sq", QUEUE).stdout
    pe_list = next((ln.split()[1:] for ln in shown.splitlines() if ln.startswith("pe_list")), [])
    if MPI_PE not in pe_list:
        _sge("qconf", "-aattr", "queue", "pe_list", MPI_PE, QUEUE)
    if LIMITED_QUEUE not in _sge("qconf", "-sql").stdout.split():
        _sge("qconf", "-Aq", str(where / LIMITED_QUEUE))


def _fingerprint(files: dict[str, str]) -> str:
    blob = json.dumps({"files": files, "base": str(base_dir()), "cell": cell()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _as_admin(*cmd: str | Path) -> None:
    """Spool tools run as the admin user, who owns the spool."""
    env = _env()
    keep = [f"{k}={env[k]}" for k in ("SGE_ROOT", "SGE_CELL", "SGE_QMASTER_PORT", "SGE_EXECD_PORT")]
    _run("runuser", "-u", ADMIN, "--", "env", "-i", "PATH=/usr/bin:/bin", *keep, *cmd, cwd="/")


def _create(files: dict[str, str]) -> None:
    """A new cell from nothing (its daemons stopped): wipe, write the files, spool them."""
    for d in (_p("cell"), _p("spool"), _p("execd"), _p("templates")):
        shutil.rmtree(d, ignore_errors=True)
    base_dir().mkdir(mode=0o755, parents=True, exist_ok=True)
    base_dir().chmod(0o755)
    for key, text in files.items():
        where, _, rel = key.partition(":")
        path = (_p("cell") if where == "cell" else base_dir()) / rel
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
    for d in (_p("spool"), _p("execd")):
        d.mkdir(mode=0o755, parents=True, exist_ok=True)
    for d in (_p("cell"), _p("spool"), _p("execd")):
        _run("chown", "-R", f"{ADMIN}:{ADMIN}", d)
    t, res = _p("templates"), Path("/usr/share/gridengine/util/resources")
    _as_admin(BIN / "spoolinit", "classic", "libspoolc", f"{_p('common')};{_p('spool')}", "init")
    defaults = BIN / "spooldefaults"
    for what, source in (
        ("configuration", t / "configuration"),
        ("complexes", res / "centry"),
        ("usersets", res / "usersets"),
        ("adminhosts", t / "adminhosts"),
        ("submithosts", t / "submithosts"),
        ("exechosts", t / "exechosts"),
        ("pes", t / "pe"),
    ):
        _as_admin(defaults, what, source)
    _as_admin(defaults, "managers", ADMIN, "root")


def _pid(pidfile: Path, exe: str) -> int | None:
    """The pid in a pid file if that process is alive and really is ``exe``."""
    try:
        pid = int(pidfile.read_text().split()[0])
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (OSError, ValueError, IndexError):
        return None
    return pid if os.path.basename(argv0) == exe else None


def _qmaster_pid() -> int | None:
    return _pid(_p("spool") / "qmaster.pid", "sge_qmaster")


def _execd_pid() -> int | None:
    # execd names its spool dir after what it thinks its name is ("localhost" here)
    pids = (_pid(f, "sge_execd") for f in _p("execd").glob("*/execd.pid"))
    return next((pid for pid in pids if pid), None)


def _answers() -> bool:
    """qmaster answers a client (lists its admin hosts)."""
    try:
        return _sge("qconf", "-sh", check=False, timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _queue_state(host: str) -> str | None:
    """The queue instance's state letters ('' is usable, 'u' not reporting), or None."""
    try:
        out = _sge("qstat", "-f", "-q", f"{QUEUE}@{host}", check=False, timeout=5).stdout
    except subprocess.TimeoutExpired:
        return None
    for line in out.splitlines():
        if line.startswith(f"{QUEUE}@"):
            parts = line.split()
            return parts[5] if len(parts) > 5 else ""
    return None


def _wait(what: str, ready: Any, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"Grid Engine: {what} after {timeout:.0f}s\n--- {log} ---\n{_tail(log)}")


def _port_in_use(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _start_qmaster(fresh: bool) -> None:
    port = ports()[0]
    if _port_in_use(port):
        raise RuntimeError(
            f"port {port} is taken by something else than this cell's sge_qmaster: set "
            "CLUSTERLAB_SGE_PORT to a free port (the execd uses the next one)"
        )
    _run(BIN / "sge_qmaster", env=_env(), cwd="/")
    _wait("qmaster does not answer", _answers, _p("spool") / "messages")
    if fresh:  # a queue made by spooldefaults has no queue instances: qmaster adds it
        _sge("qconf", "-Aq", str(_p("templates") / "cqueues" / QUEUE))
        _sge("qconf", "-Msconf", str(_p("templates") / "sched_configuration"))


def _start_execd(host: str) -> None:
    _run(BIN / "sge_execd", env=_env(), cwd="/")
    log = next(iter(_p("execd").glob("*/messages")), _p("execd") / "messages")
    _wait(f"the execution host {host} does not report", lambda: _queue_state(host) == "", log)


def _stop(pid: int | None, timeout: float = 15) -> None:
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- API


def load_info() -> SgeInfo | None:
    try:
        data = json.loads(_p("json").read_text())
        known = set(SgeInfo.__dataclass_fields__)  # a newer sge.py may store more fields
        return SgeInfo(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def up() -> SgeInfo:
    """Start (or reuse) the cell and return how to reach it."""
    if os.geteuid() != 0:
        raise PermissionError("the Grid Engine cell needs root (packages, daemons)")
    ensure_packages()
    host = _run("hostname", "-s").stdout.strip()
    files = _files(host)
    stamp = _fingerprint(files)
    try:
        fresh = _p("stamp").read_text() != stamp or not _p("settings").exists()
    except OSError:
        fresh = True
    if fresh:
        down()
        _p("stamp").unlink(missing_ok=True)
        _create(files)
    if _qmaster_pid() is None:
        _start_qmaster(fresh)
    if fresh:
        _p("stamp").write_text(stamp)
    if _execd_pid() is None:
        _start_execd(host)
    elif _queue_state(host) != "":
        usable = lambda: _queue_state(host) == ""  # noqa: E731
        _wait(f"the queue {QUEUE}@{host} is not usable", usable, _p("spool") / "messages")
    ensure_extras(files)
    qmaster, execd = ports()
    info = SgeInfo(
        base_dir=str(base_dir()),
        sge_root=str(SGE_ROOT),
        cell=cell(),
        qmaster_port=qmaster,
        execd_port=execd,
        settings=str(_p("settings")),
        hostname=host,
        queue=QUEUE,
        pe=PE,
        slots=SLOTS,
        mpi_pe=MPI_PE,
        limited_queue=LIMITED_QUEUE,
        limited_h_rt=LIMITED_H_RT,
        limited_slots=LIMITED_SLOTS,
    )
    _p("json").write_text(json.dumps(asdict(info), indent=2) + "\n")
    return info


def down() -> None:
    """Delete every job of the cell and stop its daemons (the cell itself stays)."""
    if _qmaster_pid() is not None:
        _sge("qdel", "-u", "*", check=False)  # execd kills what runs
        deadline = time.monotonic() + 10
        while _sge("qstat", "-u", "*", check=False).stdout.strip():
            if time.monotonic() > deadline:
                _sge("qdel", "-f", "-u", "*", check=False)
                break
            time.sleep(0.2)
    _stop(_execd_pid())
    _stop(_qmaster_pid())


def reset() -> None:
    """Stop the daemons and forget the cell: the next ``up`` builds it again."""
    down()
    for d in (_p("cell"), base_dir()):
        shutil.rmtree(d, ignore_errors=True)


def status() -> dict[str, object]:
    host = _run("hostname", "-s").stdout.strip()
    qmaster = _qmaster_pid()
    return {
        "base_dir": str(base_dir()),
        "cell": cell(),
        "ports": list(ports()),
        "qmaster_pid": qmaster,
        "execd_pid": _execd_pid(),
        "queue_state": _queue_state(host) if qmaster else None,
    }


def env_lines() -> list[str]:
    """`eval "$(python sge.py env)"` points qsub/qstat at the cell."""
    return [f". {_p('settings')}"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("up", "down", "reset", "status", "env"):
        print("usage: sge.py up|down|reset|status|env", file=sys.stderr)
        return 2
    cmd = args[0]
    if cmd == "up":
        print(json.dumps(asdict(up()), indent=2))
    elif cmd == "down":
        down()
        print("Grid Engine cell stopped")
    elif cmd == "reset":
        reset()
        print("Grid Engine cell removed")
    elif cmd == "status":
        st = status()
        print(json.dumps(st, indent=2))
        return 0 if st["queue_state"] == "" else 1
    else:
        print("\n".join(env_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
