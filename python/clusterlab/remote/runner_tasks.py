"""Multi-task jobs and ``cl.task()`` on the cluster: the runner's third file (stdlib only,
shipped beside ``runner.py`` in every job dir; ``runner.py`` loads it by path).

A job with ``tasks=N`` (N > 1) runs its function once per task. The job script starts the
runner once, as the *launcher*, which starts the N tasks the scheduler's way and waits:

- ``srun`` inside a SLURM allocation (``--kill-on-bad-exit``: a rank that fails stops the
  others; srun spreads the ranks over the allocation's nodes);
- ``mpirun`` where a parallel environment gave the job hosts (``PE_HOSTFILE`` on Grid
  Engine, ``PBS_NODEFILE`` on PBS) and ``mpirun`` exists;
- ``processes``: N child processes on this host (the local and direct backends, and Grid
  Engine or PBS without ``mpirun``; only when every task fits on this one host).

Each task is the runner again, with ``CLUSTERLAB_TASK_ROLE=rank`` in its environment: it
learns its rank from the launcher's variables (``SLURM_PROCID``, ``OMPI_COMM_WORLD_RANK``,
or ``CLUSTERLAB_RANK``), sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` (what torch.distributed,
jax.distributed and most collectives read), runs the function and leaves its outcome in
``ranks/RANK.pkl``. Rank 0 writes to the job's own stdout/stderr (what ``job.stdout()`` and
a blocking call show); rank R > 0 to ``ranks/R.stdout`` / ``ranks/R.stderr``.

When all tasks ended, the launcher writes ``result.pkl``: rank 0's outcome when every rank
succeeded, else the failing rank's exception (its traceback headed by the rank and host),
and the ``finished`` status line, so the kernel settles the job as any other.

``launcher="none"`` runs the function once in the allocation (the user's code starts its
own ``mpirun``/``torchrun``).

``cl.task()`` works where the cluster's Python has only cloudpickle: a function naming
``clusterlab`` is pickled with a reference to the module, imported when the function is
loaded; where it is not installed, the runner's one stand-in (``shim.py``) gets
:data:`SHIM_ATTRIBUTES` (``task``, ``TaskInfo``) from here.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

# The job-dir and environment contract as the runner knows it (kernel's copy:
# clusterlab/common/jobdir.py; tests/unit/test_jobdir_contract.py proves that they agree).
RANKS = "ranks"  # ranks/R.pkl, ranks/R.stdout, ranks/R.stderr
TASKS_VAR = "CLUSTERLAB_TASKS"  # N: the job script sets it when N > 1
LAUNCHER_VAR = "CLUSTERLAB_LAUNCHER"  # auto | srun | mpirun | processes | none
ROLE_VAR = "CLUSTERLAB_TASK_ROLE"  # "rank" in a task the launcher started
RANK_VAR = "CLUSTERLAB_RANK"  # the processes launcher names each task's rank
NODE_VAR = "CLUSTERLAB_NODE"  # the index of the task's node in the job
TASK_INFO_VAR = "CLUSTERLAB_TASK_INFO"  # in a task: "rank,world_size,local_rank,node"
ITEM_VAR = "CLUSTERLAB_ITEM"  # in a task of a map item: "ARRAY_TASK ITEM_INDEX"
ATTEMPT_VAR = "CLUSTERLAB_ATTEMPT"  # 0 on the first run of a job (requeues count up)
LAUNCHERS = ("auto", "srun", "mpirun", "processes", "none")
STOP_GRACE_SECONDS = 5.0  # TERM, then KILL: the other ranks when one failed
TERM_WAIT = 5.0  # s a launcher killed by SIGTERM waits for the runner's own (preemption)


# -- cl.task() where clusterlab is not installed ------------------------------------------------
class TaskInfo:
    """Where this task stands in its job (the same fields as ``clusterlab.TaskInfo``, which
    the kernel unpickles this as when a function returns it)."""

    def __init__(self, rank: int, world_size: int, local_rank: int, node: int, attempt: int):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.node, self.attempt = node, attempt

    def __repr__(self) -> str:
        return "TaskInfo(" + ", ".join(f"{k}={v}" for k, v in vars(self).items()) + ")"


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


def task() -> TaskInfo:
    """This task's rank, world size, local rank, node index and attempt (a single task:
    rank 0 of 1), read from the variable the runner sets in each task."""
    parts = os.environ.get(TASK_INFO_VAR, "").split(",")
    rank, world, local, node = (int(p) for p in parts) if len(parts) == 4 else (0, 1, 0, 0)
    return TaskInfo(rank, world, local, node, attempt=_int_env(ATTEMPT_VAR, 0))


# What this part gives the runner's ``clusterlab`` stand-in (shim.py's install).
SHIM_ATTRIBUTES: dict[str, Any] = {"task": task, "TaskInfo": TaskInfo}


def prepare_job() -> None:
    """Before an ordinary job (or a launcher) loads its function: no task it runs in (a
    job submitted from inside a task is rank 0 of 1)."""
    os.environ.pop(TASK_INFO_VAR, None)


# -- which tasks --------------------------------------------------------------------------------
def count() -> int:
    return max(1, _int_env(TASKS_VAR, 1))


def is_rank() -> bool:
    """This process is one task of a multi-task job (started by the launcher)."""
    return os.environ.get(ROLE_VAR) == "rank"


def launching() -> bool:
    """This runner is to start the job's tasks (N > 1 and a launcher other than none)."""
    return not is_rank() and count() > 1 and os.environ.get(LAUNCHER_VAR, "auto") != "none"


def _hosts_file() -> str:
    return os.environ.get("PE_HOSTFILE") or os.environ.get("PBS_NODEFILE") or ""


def host_count() -> int:
    """How many hosts the scheduler gave the job (1 when it does not say)."""
    if os.environ.get("SLURM_JOB_NUM_NODES", "").isdigit():
        return int(os.environ["SLURM_JOB_NUM_NODES"])
    try:
        with open(_hosts_file()) as fh:  # PE_HOSTFILE: "host slots queue ..."; PBS: a host a line
            return max(1, len({line.split()[0] for line in fh if line.strip()}))
    except (OSError, IndexError):
        return 1


def choose_launcher() -> str:
    """The launcher asked for, or for ``auto`` the scheduler's own: srun in a SLURM
    allocation, mpirun where a parallel environment named hosts, else processes."""
    asked = os.environ.get(LAUNCHER_VAR, "auto")
    if asked != "auto":
        return asked
    if os.environ.get("SLURM_JOB_ID") and shutil.which("srun"):
        return "srun"
    if _hosts_file() and shutil.which("mpirun"):
        return "mpirun"
    return "processes"


def free_port() -> int:
    """A TCP port free on this host now (rank 0 runs here: the launcher runs on the
    allocation's first node, where srun and mpirun place rank 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def master_addr() -> str:
    """An address of this host the other nodes can reach: its name's address unless that
    is a loopback one, then the name itself (a multi-node cluster resolves its nodes'
    names); ``CLUSTERLAB_MASTER_ADDR`` overrides both."""
    given = os.environ.get("CLUSTERLAB_MASTER_ADDR")
    if given:
        return given
    name = socket.gethostname()
    try:
        addr = socket.gethostbyname(name)
    except OSError:
        return name
    return name if addr.startswith("127.") else addr


# -- a rank -----------------------------------------------------------------------------------
def _rank_layout() -> tuple[int, int, int, int, int]:
    """(rank, world size, local rank, local world size, node) from the launcher's variables."""
    env = os.environ
    world = count()
    # ours first: a processes launcher inside a SLURM allocation inherits SLURM_PROCID=0
    for rank_var, local_var, local_size_var, node_var in (
        (RANK_VAR, "CLUSTERLAB_LOCAL_RANK", "CLUSTERLAB_LOCAL_SIZE", NODE_VAR),
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", ""),
        ("PMI_RANK", "MPI_LOCALRANKID", "MPI_LOCALNRANKS", ""),
        ("SLURM_PROCID", "SLURM_LOCALID", "", "SLURM_NODEID"),
    ):
        if env.get(rank_var, "").isdigit():
            rank = int(env[rank_var])
            local = _int_env(local_var, 0)
            local_size = _int_env(local_size_var, 0) if local_size_var else 0
            if not local_size and rank_var == "SLURM_PROCID":
                local_size = _slurm_tasks_here()
            node = _int_env(node_var, 0) if node_var else 0
            return rank, world, local, local_size or world, node
    return 0, world, 0, world, 0


def _slurm_tasks_here() -> int:
    """Tasks of this step on this node (SLURM_STEP_TASKS_PER_NODE's entry for this node)."""
    spec = os.environ.get("SLURM_STEP_TASKS_PER_NODE") or os.environ.get("SLURM_TASKS_PER_NODE")
    node = _int_env("SLURM_NODEID", 0)
    counts: list[int] = []
    for part in (spec or "").split(","):
        number, _, times = part.partition("(x")
        if number.isdigit():
            counts += [int(number)] * (int(times.rstrip(")")) if times else 1)
    return counts[node] if node < len(counts) else 0


def ranks_path(job_dir: str, index: str | int | None) -> str:
    """Where the ranks of a job (``ranks/``) or of map item ``index`` leave their files."""
    return os.path.join(job_dir, RANKS if index is None else f"results/{index}.ranks")


def _the_call(job_dir: str, item: str, cloudpickle: Any, runner: Any) -> Any:
    """(fn, args, kwargs, refs): the job's payload, or map item ``item`` of its array task."""
    if not item:
        with open(os.path.join(job_dir, runner.PAYLOAD), "rb") as fh:
            return cloudpickle.load(fh)
    task, index = item.split()
    with open(os.path.join(job_dir, runner.FUNCTION), "rb") as fh:
        fn = cloudpickle.load(fh)
    with open(os.path.join(job_dir, runner.items.ITEMS, f"{task}.pkl"), "rb") as fh:
        calls = cloudpickle.load(fh)
    return (fn, *next(c for c in calls if c[0] == int(index))[1:])


def _redirect(ranks_dir: str, rank: int) -> None:
    """Rank R > 0 writes to R.stdout and R.stderr in its ranks dir (rank 0 keeps the job's)."""
    if rank == 0:
        return
    for fd, stream in ((1, "stdout"), (2, "stderr")):
        path = os.path.join(ranks_dir, f"{rank}.{stream}")
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with contextlib.suppress(Exception):
            (sys.stdout if fd == 1 else sys.stderr).flush()
        os.dup2(target, fd)
        os.close(target)


def rank_main(job_dir: str, runner: Any) -> int:
    """One task: set the variables collectives read, run the function, leave the outcome
    in ranks/RANK.pkl. 0 on success, 1 when the function raised, 2 when it could not load."""
    rank, world, local, local_size, node = _rank_layout()
    for name in (ROLE_VAR, TASKS_VAR, LAUNCHER_VAR, RANK_VAR, "CLUSTERLAB_LOCAL_RANK"):
        os.environ.pop(name, None)  # a job this task submits is an ordinary job, not a rank
    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(local),
            "LOCAL_WORLD_SIZE": str(local_size),
            NODE_VAR: str(node),
            TASK_INFO_VAR: f"{rank},{world},{local},{node}",
        }
    )
    item = os.environ.pop(ITEM_VAR, "")
    ranks_dir = ranks_path(job_dir, item.split()[1] if item else None)
    _redirect(ranks_dir, rank)
    path = os.path.join(ranks_dir, f"{rank}.pkl")
    try:
        import cloudpickle
    except ImportError:
        runner.write_result(path, ("env_error", runner.no_cloudpickle()), pickle.dumps)
        return 2
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        fn, args, kwargs, refs = _the_call(job_dir, item, cloudpickle, runner)
    except Exception as exc:
        runner.write_result(path, ("env_error", runner.load_message(exc)), pickle.dumps)
        return 2
    where = f"rank {rank} of {world} (on {socket.gethostname()})"

    def ranked(*a: Any, **k: Any) -> Any:
        __tracebackhide__ = True  # not the user's frame: left out of the remote traceback
        try:
            return fn(*a, **k)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # shown under it (Python 3.11+)
                notes = [*getattr(exc, "__notes__", []), f"raised in {where}"]
                setattr(exc, "__notes__", notes)  # noqa: B010 (add_note is 3.11+)
            raise

    ok, _ = runner.run_call(ranked, args, kwargs, refs, path, cloudpickle)
    sys.stdout.flush()
    sys.stderr.flush()
    return 0 if ok else 1


# -- the launcher -----------------------------------------------------------------------------
class _Started:
    """The tasks as started: one srun/mpirun process, or N processes."""

    def __init__(self, procs: list[subprocess.Popen[bytes]], per_rank: bool) -> None:
        self.procs, self.per_rank = procs, per_rank

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in self.procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    proc.kill()
                proc.wait()

    def signal_all(self, signum: int) -> None:
        """Safe in a signal handler: no Popen.wait, whose lock the interrupted wait holds
        (a handler that waited on srun deadlocked, and a cancelled job's runner lived on)."""
        for proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(OSError):
                    os.kill(proc.pid, signum)

    def wait(self) -> dict[int, int]:
        """Exit codes (by rank for processes; {-1: code} for one srun/mpirun). As soon as one
        rank fails, the others are stopped."""
        if not self.per_rank:
            return {-1: self.procs[0].wait()}
        codes: dict[int, int] = {}
        while len(codes) < len(self.procs):
            for rank, proc in enumerate(self.procs):
                if rank not in codes and proc.poll() is not None:
                    codes[rank] = proc.returncode
                    if proc.returncode != 0:
                        self.stop()
                        return {r: p.returncode for r, p in enumerate(self.procs)}
            time.sleep(0.05)
        return codes


def _through_env(env: dict[str, str]) -> list[str]:
    """``env NAME=VALUE ...`` before each rank's command: the variables the runner set for
    its tasks reach every rank whatever the MPI (an mpirun forwards only some variables to
    the ranks it starts on other nodes, each MPI its own way: Open MPI ``-x``, MPICH
    ``-genv``)."""
    ours = [name for name in (ROLE_VAR, TASKS_VAR, ATTEMPT_VAR, ITEM_VAR) if name in env]
    ours += ["MASTER_ADDR", "MASTER_PORT"]
    return ["env", *(f"{name}={env[name]}" for name in ours if name in env)]


def _mpirun_env(env: dict[str, str]) -> dict[str, str]:
    """What Open MPI needs to start the tasks the user asked for (other MPIs ignore these
    variables; a value the user set in the profile's env wins):

    - run as root (a container's Jupyter often is), Open MPI refuses unless told twice
      that it is meant; the user's kernel already runs everything as root;
    - with no scheduler allocation (the local and direct backends) Open MPI counts one
      slot per core and refuses more ranks than cores, where the processes launcher would
      start them: the job asked for N tasks on this host, so N are started."""
    env = dict(env)
    if os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    if not (_hosts_file() or env.get("SLURM_JOB_ID")):
        env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    return env


def _start(which: str, n: int, job_dir: str, env: dict[str, str]) -> _Started:
    runner_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
    # the launcher's own interpreter flags (-I, -S...): every rank runs as it does
    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    me = [sys.executable, *flags, runner_path, job_dir]
    if which == "srun":
        argv = ["srun", f"--ntasks={n}", "--kill-on-bad-exit=1", "--export=ALL", *me]
        return _Started([subprocess.Popen(argv, env=env)], per_rank=False)
    if which == "mpirun":
        argv = ["mpirun", "-np", str(n), *_through_env(env), *me]
        return _Started([subprocess.Popen(argv, env=_mpirun_env(env))], per_rank=False)
    procs = []
    for rank in range(n):
        mine = {RANK_VAR: str(rank), "CLUSTERLAB_LOCAL_RANK": str(rank), NODE_VAR: "0"}
        procs.append(subprocess.Popen(me, env={**env, **mine, "CLUSTERLAB_LOCAL_SIZE": str(n)}))
    return _Started(procs, per_rank=True)


def _outcome(ranks_dir: str, rank: int) -> tuple[str, Any, bytes] | None:
    try:
        with open(os.path.join(ranks_dir, f"{rank}.pkl"), "rb") as fh:
            data = fh.read()
        kind, body = pickle.loads(data)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
    return kind, body, data


def _exit_words(code: int) -> str:
    return f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"


def _run_ranks(job: Any, runner: Any, ranks_dir: str, extra: dict[str, str]) -> Any:
    """Start the tasks and wait for them: their exit codes, or why they cannot start."""
    n, which = count(), choose_launcher()
    if which not in LAUNCHERS or which == "auto":
        return f"launcher={which!r} is unknown: use one of {LAUNCHERS}"
    if which in ("srun", "mpirun") and not shutil.which(which):
        return (
            f"launcher={which!r}, but {which} is not on PATH on {socket.gethostname()}: "
            "load the module that provides it in the profile's setup lines, or leave "
            "launcher out"
        )
    if which == "processes" and host_count() > 1:  # they would all crowd the first host
        return (
            f"the job has {host_count()} hosts but no launcher that reaches them (no "
            "srun or mpirun on PATH): load the module that provides mpirun in the "
            "profile's setup lines, or ask for nodes=1"
        )
    os.makedirs(ranks_dir, mode=0o700, exist_ok=True)
    env = {
        **os.environ,
        **extra,
        ROLE_VAR: "rank",
        TASKS_VAR: str(n),
        "MASTER_ADDR": master_addr(),
        "MASTER_PORT": str(free_port()),
        ATTEMPT_VAR: os.environ.get(ATTEMPT_VAR, "0"),
    }
    job.status("launched", launcher=which, tasks=n, master=env["MASTER_ADDR"])
    sys.stderr.write(f"clusterlab: {n} tasks started with {which}\n")
    sys.stderr.flush()
    started = _start(which, n, job.dir, env)

    stopping: list[int] = []

    def on_term(signum: int, _frame: Any) -> None:  # cancelled or preempted: ranks first
        stopping.append(signum)
        started.signal_all(signal.SIGTERM)
        kill = threading.Timer(STOP_GRACE_SECONDS, started.signal_all, (signal.SIGKILL,))
        kill.daemon = True
        kill.start()

    # The runner's own handler (record the exit and die; with requeue=True: note the
    # preemption first) runs once the ranks have ended.
    previous = signal.signal(signal.SIGTERM, on_term)
    codes = started.wait()  # returns once the ranks (or srun/mpirun) ended
    # srun may die of a preemption's SIGTERM before the runner hears its own: wait for it
    term, deadline = {-signal.SIGTERM, 128 + signal.SIGTERM}, time.monotonic() + TERM_WAIT
    while not stopping and term & set(codes.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    if stopping:
        if callable(previous):
            previous(stopping[0], None)
        runner.signalled(job, stopping[0])  # records the signal, then dies of it
    signal.signal(signal.SIGTERM, previous)
    return codes


def launch(job: Any, runner: Any) -> int:
    """Start the job's tasks, wait for them, and settle the job by their outcomes."""
    codes = _run_ranks(job, runner, ranks_path(job.dir, None), {})
    if isinstance(codes, str):
        return int(job.env_error(codes))
    kind, body, rank = _verdict(ranks_path(job.dir, None), count(), codes, runner)
    if kind == "env_error":
        return int(job.env_error(body))
    usage = runner.items.usage(job.clock, final=True)
    path = os.path.join(job.dir, runner.RESULT)
    digest = runner.write_result(path, body, (lambda raw: raw) if kind == "ok" else pickle.dumps)
    size = runner.items.sized(job.dir, runner.RESULT)
    job.status("finished", outcome=kind, sha256=digest, usage=usage, rank=rank, **size)
    return 0 if kind == "ok" else 1


def launch_item(job: Any, index: int, path: str, runner: Any) -> tuple[bool, str]:
    """Map item ``index`` of this array task on every task: (ok, its result's sha256)."""
    ranks_dir = ranks_path(job.dir, index)
    codes = _run_ranks(job, runner, ranks_dir, {ITEM_VAR: f"{job.task} {index}"})
    if isinstance(codes, str):
        kind, body = "error", ("error", runner.error_record(RuntimeError(codes), pickle.dumps))
    else:
        kind, body, _ = _verdict(ranks_dir, count(), codes, runner)
    if kind == "env_error":
        kind, body = "error", ("error", runner.error_record(RuntimeError(body), pickle.dumps))
    digest = runner.write_result(path, body, (lambda raw: raw) if kind == "ok" else pickle.dumps)
    return kind == "ok", digest


def _verdict(ranks_dir: str, n: int, codes: dict[int, int], runner: Any) -> tuple[str, Any, Any]:
    """How the tasks ended, as (kind, what to write, the rank it is about): ``ok`` with
    rank 0's result file as is, ``error`` with the failing rank's exception, or
    ``env_error`` with the sentence of a rank that could not load the function."""
    outcomes = {rank: _outcome(ranks_dir, rank) for rank in range(n)}
    for rank, found in outcomes.items():
        if found is not None and found[0] == "env_error":
            return "env_error", f"rank {rank} of {n}: {found[1]}", rank
    failed = [r for r, found in outcomes.items() if found is not None and found[0] == "error"]
    if failed:
        rank = failed[0]
        record = dict(outcomes[rank][1])  # type: ignore[index]
        others = "; the other ranks were stopped" if len(failed) < n else ""
        record["traceback"] = f"[rank {rank} of {n}{others}]\n{record['traceback']}"
        return "error", ("error", record), rank
    missing = [r for r, found in outcomes.items() if found is None]
    if not missing:
        return "ok", outcomes[0][2], None  # type: ignore[index]
    if len(missing) == n and -1 in codes and codes[-1] != 0:
        # srun/mpirun itself refused or failed before a task ran: blaming rank 0 would
        # send the user to an empty rank log, while the launcher's words are in stderr
        which = choose_launcher()
        err = RuntimeError(
            f"{which} {_exit_words(codes[-1])} before any of the {n} tasks left a result: "
            f"its own message is in job.stderr()"
        )
        return "error", ("error", runner.error_record(err, pickle.dumps)), None
    rank = missing[0]
    code = codes.get(rank, codes.get(-1, 1))
    err = RuntimeError(
        f"rank {rank} of {n} {_exit_words(code)} without a result (killed, out of memory, or "
        f"its node failed): see job.stderr(rank={rank}); the other ranks were stopped"
    )
    return "error", ("error", runner.error_record(err, pickle.dumps)), rank
