"""The job-directory contract: the names of the files in a job dir and the status-line
format, in one place for the kernel side.

The runner (``remote/runner.py``, stdlib only, copied into every job dir) keeps its own
copy of the names it writes; ``tests/unit/test_jobdir_contract.py`` proves the two agree.
Changing a name here is a change of the on-disk format: job dirs written by an earlier
release must still be read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from .usage import Usage

# -- files the kernel stages ---------------------------------------------------------------
RUNNER = "runner.py"
RUNNER_ITEMS = "runner_items.py"  # the runner's second file (array items), beside it
RUNNER_TASKS = "runner_tasks.py"  # its third: multi-task jobs and cl.task()
RUNNER_SHIM = "shim.py"  # clusterlab's names on a cluster without clusterlab (cl.checkpoint)
RUNNER_CHECKPOINT = "checkpoint.py"  # cl.checkpoint as the shim provides it
RUNNER_ATTEMPTS = "attempts.py"  # the runner's side of requeue and retries
RUNNER_FILES = (
    RUNNER,
    RUNNER_ITEMS,
    RUNNER_TASKS,
    RUNNER_SHIM,
    RUNNER_CHECKPOINT,
    RUNNER_ATTEMPTS,
)
ATTEMPTS = "attempts.pkl"  # a call's requeue/retry policy, when it has one
SCRIPT = "job.sh"  # the rendered batch script, exactly as submitted
PYTHON_COULD_NOT_WRITE = 120  # CPython's exit code when flushing stdout/stderr fails at exit
COULD_NOT_WRITE = (
    "its Python exited with code 120: it could not write its output or result (is the "
    "disk where its job directory lives full, or over quota?); free space and run it again"
)
PAYLOAD = "payload.pkl"  # one call: (fn, args, kwargs, refs)
FUNCTION = "fn.pkl"  # an array's function
POOL = "pool.json"  # pool mode: the workers' shares
CLAIMS = "claims"  # pool mode: one file per claimed item (O_EXCL)
WORKERS = "workers"  # pool mode: one heartbeat file per worker
CANCEL = "cancel"  # the kernel asks the local scheduler not to start a job
SUBMITTED = "submitted"  # what the submit command printed (the scheduler's id)
CANCELLED_CLAIM = "cancelled"  # the text of a claim the kernel wrote for a cancelled item

# -- files the runner writes ---------------------------------------------------------------
STATUS = "status"
RESULT = "result.pkl"
RESULTS = "results"  # results/INDEX.pkl per array item
ITEMS = "items"  # items/TASK.pkl: the calls of one array task
WORK = "work"  # the working directory of user code, inside the job dir
WORKDIR_VAR = "CLUSTERLAB_WORKDIR"  # set by the job script when the profile names a workdir
# A map with outputs=: JSON {"dir", "inputs"}; each item runs in <dir>/<index> (inputs linked)
ITEM_DIRS_VAR = "CLUSTERLAB_ITEM_DIRS"
# In a podman/docker container: the job's processes outside it hold a shared lock on this
# file of the job dir (named by the variable), so the runner inside can tell when they were
# killed and the engine's container was left running (config/containerspec.py).
OUTSIDE_LOCK = "container.lock"
OUTSIDE_LOCK_VAR = "CLUSTERLAB_OUTSIDE_LOCK"
STDOUT = "stdout"
CHECKPOINT = "checkpoint.pkl"  # cl.checkpoint.save() of a job's call
CHECKPOINTS = "checkpoints"  # checkpoints/INDEX.pkl: an array item's
CHECKPOINT_VAR = "CLUSTERLAB_CHECKPOINT"  # the runner tells cl.checkpoint where, per call
STDERR = "stderr"
# A tasks=N job: rank R's outcome in ranks/R.pkl, its output (R > 0) in ranks/R.stdout and
# ranks/R.stderr; rank 0 writes to the job's own log files and result.pkl is the job's.
RANKS = "ranks"
# What the job script sets for the runner: the task count (N > 1) and the launcher.
TASKS_VAR = "CLUSTERLAB_TASKS"
LAUNCHER_VAR = "CLUSTERLAB_LAUNCHER"
# How a tasks=N job starts its tasks (the resource launcher=; the runner's copy is
# remote/runner_tasks.py): "auto" is the scheduler's way (srun in a SLURM allocation,
# mpirun where a parallel environment names hosts, else N processes on the job's host);
# "none" runs the function once (it starts its own tasks).
LAUNCHERS = ("auto", "srun", "mpirun", "processes", "none")
NODE_VAR = "CLUSTERLAB_NODE"  # in a task: the index of its node in the job
TASK_INFO_VAR = "CLUSTERLAB_TASK_INFO"  # in a task: "rank,world_size,local_rank,node"
ATTEMPT_VAR = "CLUSTERLAB_ATTEMPT"  # in a task: 0 on the job's first run

# -- status events (one JSON object per line) ------------------------------------------------
STARTED, HEARTBEAT, FINISHED, STOPPED = "started", "heartbeat", "finished", "stopped"
EXIT = "exit"  # written by the job script after the runner ended, however it ended
ITEM_STARTED, ITEM_FINISHED = "item-started", "item-finished"
RETRY = "retry"  # the runner reruns the function (retry_on): {attempt, cause, delay}
REQUEUE = "requeue"  # this run ends to run again (warned, preempted): {cause}
REQUEUED_BY_SCHEDULER = "requeued by the scheduler (preempted or its node failed)"
# Where an item's output lies in its task's log files: the offset in ``out``/``err`` when
# it starts, ``[start, end]`` when it finished (bytes; missing when the logs are no files).
ITEM_LOG_FIELDS = {"out": STDOUT, "err": STDERR}
# outcomes of a "finished" event
OK, ERROR, ENV_ERROR, NO_PYTHON = "ok", "error", "env_error", "no_python"


def status_file(task: int | str | None = None) -> str:
    """``status`` for a single job, ``status.TASK`` for an array task."""
    return STATUS if task is None else f"{STATUS}.{task}"


def log_file(stream: str, task: int | str | None = None) -> str:
    """``stdout``/``stderr`` of a job, ``stdout.TASK`` of an array task."""
    return stream if task is None else f"{stream}.{task}"


def ranks_dir(index: int | None = None) -> str:
    """Where the ranks of a tasks=N job (``ranks``) or of its map item ``index``
    (``results/INDEX.ranks``) leave their files, relative to the job dir."""
    return RANKS if index is None else f"{RESULTS}/{index}.ranks"


def rank_result(rank: int, index: int | None = None) -> str:
    """Where rank ``rank`` of a tasks=N job (or map item) leaves its outcome."""
    return f"{ranks_dir(index)}/{rank}.pkl"


def rank_log(stream: str, rank: int, index: int | None = None) -> str:
    """Rank ``rank``'s stdout/stderr: the job's own for rank 0 of a job, ``R.stdout`` in
    its ranks dir else (rank 0 of a map item writes to its task's log, as any item)."""
    return stream if rank == 0 and index is None else f"{ranks_dir(index)}/{rank}.{stream}"


def item_result(index: int) -> str:
    """Where array item ``index`` leaves its outcome, relative to the job dir."""
    return f"{RESULTS}/{index}.pkl"


def task_items(task: int) -> str:
    """The pickled calls of array task ``task``, relative to the job dir."""
    return f"{ITEMS}/{task}.pkl"


def task_of_status_file(name: str) -> int | None:
    """``status.7 -> 7``; None for ``status`` or anything else."""
    prefix, dot, index = name.partition(".")
    return int(index) if prefix == STATUS and dot and index.isdigit() else None


@dataclass
class StatusInfo:
    """What the runner wrote: when it started, where, and how it finished."""

    started: float | None = None
    host: str = ""
    pid: int = 0
    finished: float | None = None
    outcome: str = ""  # ok | error | env_error | no_python
    message: str = ""
    items: dict[int, StatusInfo] = field(default_factory=dict)  # array tasks: per item
    attempt: int = 1  # pool items: 2 when this is the retry
    stopped: bool = False  # a pool worker that was killed (it said so on SIGTERM)
    digest: str = ""  # sha256 of the result file, as the runner wrote it
    size: int = -1  # the result file's size in bytes, as the runner wrote it (-1: unknown)
    exited: float | None = None  # when the job script saw the runner end (the "exit" line)
    exit_code: int | None = None  # the runner's exit code as the shell saw it
    exit_signal: str = ""  # a signal the job script itself received (TERM, INT)
    malformed: int = 0  # lines that were not status records (written by someone else)
    usage: Usage | None = None  # what it used (the runner's "finished"/"item-finished")
    # array items: stream -> (start, end) of its output in its task's file; end None while
    # it runs (its output so far reaches the end of the file)
    logs: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    # Every run so far (job.history): {"attempt", "host", "started", "ended", "cause"};
    # a later "started" line (a requeued or rerun job) begins a new one, and the fields
    # above then describe the newest run only.
    runs: list[dict[str, object]] = field(default_factory=list)
    requeued: str = ""  # this run ends to run again, for this cause (a "requeue" line)


def _number(value: object, default: float | None = None) -> float | None:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def _count(value: object) -> int:
    """A byte count from a status line; -1 when missing or not a whole number >= 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else -1


def parse_status(data: bytes | None) -> StatusInfo:
    """Read the runner's JSON lines. A torn last line (being written) is ignored, and so is
    any line that is not a status record: a job that writes garbage into its own status
    file fails itself at worst, never the poll of every other job."""
    info = StatusInfo()
    fold_status(info, data or b"")
    return info


def fold_status(info: StatusInfo, data: bytes, owned: set[int] | None = None) -> None:
    """Apply the records of ``data``'s lines to ``info``, in order: ``parse_status`` is this
    fold over an empty ``StatusInfo``, and a file that only grew can be folded on from
    where the last parse stopped (``common/statusgrowth.py``).

    ``owned``: None when ``info`` is this fold's alone. Otherwise ``info.items`` still holds
    item records shared with an earlier result, which someone may hold: an item not in
    ``owned`` is copied before its first change (and then added), so that result never
    changes under its holder."""
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # (a line nested deeper than Python recurses)
            info.malformed += 1
            continue
        if not isinstance(record, dict):
            info.malformed += 1
            continue
        try:
            _apply(info, record, owned)
        except (TypeError, ValueError):
            info.malformed += 1


def copy_status(info: StatusInfo) -> StatusInfo:
    """A copy of ``info`` that a fold may change without changing ``info``: its own
    containers, the items themselves still shared (``fold_status``'s ``owned`` copies
    those on write; copying every item would cost what parsing them again does)."""
    return replace(
        info, items=dict(info.items), logs=dict(info.logs), runs=[dict(r) for r in info.runs]
    )


def _apply(info: StatusInfo, record: dict[str, object], owned: set[int] | None = None) -> None:
    event = record.get("event")
    if event in (STARTED, RETRY, REQUEUE):
        _run_record(info, str(event), record)
    if event == STARTED:
        info.started = _number(record.get("time"))
        info.host = str(record.get("host", ""))
        info.pid = int(str(record.get("pid", 0)))
    elif event == FINISHED:
        info.finished = _number(record.get("time"), 0.0)
        info.outcome = str(record.get("outcome", ""))
        info.message = str(record.get("message", ""))
        info.digest = str(record.get("sha256", ""))
        info.size = _count(record.get("size"))
        info.usage = Usage.from_dict(record.get("usage"))
    elif event == STOPPED:
        info.stopped = True
    elif event == EXIT:
        info.exited = _number(record.get("time"), 0.0)
        info.exit_code = int(str(record.get("code", -1)))
        info.exit_signal = str(record.get("signal", ""))
    elif event in (ITEM_STARTED, ITEM_FINISHED):
        index = int(str(record.get("index", -1)))
        item = info.items.get(index)
        if item is None:
            item = info.items[index] = StatusInfo(host=info.host)
        elif owned is not None and index not in owned:
            item = info.items[index] = copy_status(item)  # (an earlier result holds it)
        if owned is not None:
            owned.add(index)
        if event == ITEM_STARTED:
            item.started = _number(record.get("time"))
            item.attempt = int(str(record.get("attempt", 1)))
        else:
            item.finished = _number(record.get("time"), 0.0)
            item.outcome = str(record.get("outcome", ""))
            item.digest = str(record.get("sha256", ""))
            item.size = _count(record.get("size"))
            item.usage = Usage.from_dict(record.get("usage"))
        for key, stream in ITEM_LOG_FIELDS.items():
            span = _log_span(record.get(key))
            if span is not None:
                item.logs[stream] = span


def _run_record(info: StatusInfo, event: str, record: dict[str, object]) -> None:
    """Keep ``info.runs`` (the job's history): a new run at each "started" (after the
    first: a requeue or a rerun, whose cause the previous run's lines tell) and each
    "retry"; a "requeue" line names why the current run ends."""
    when = _number(record.get("time"))
    if event == REQUEUE:
        info.requeued = str(record.get("cause", "")) or REQUEUED_BY_SCHEDULER
        if info.runs:
            info.runs[-1]["cause"] = info.requeued
        return
    if info.runs:
        last = info.runs[-1]
        last["ended"] = last.get("ended") or info.exited or info.finished or when
        if event == RETRY:
            last["cause"] = str(record.get("cause", ""))
        elif not last.get("cause"):
            last["cause"] = _ended_by(info)
    if event == STARTED and info.started is not None:
        # the newest run is judged alone: the previous one's end is history now
        info.finished = info.exited = info.exit_code = info.usage = None
        info.outcome = info.message = info.digest = info.exit_signal = info.requeued = ""
        info.size = -1
        info.stopped = False
    attempt = record.get("attempt")
    number = attempt if isinstance(attempt, int) and attempt > 0 else len(info.runs) + 1
    host = str(record.get("host", info.host)) if event == STARTED else info.host
    info.runs.append({"attempt": number, "host": host, "started": when, "ended": None, "cause": ""})


def _ended_by(info: StatusInfo) -> str:
    """Why a run that said nothing about it ended, as its lines tell."""
    if info.finished is not None:
        return f"it ended ({info.outcome or 'unknown'}) and was run again"
    if info.exit_signal or (info.exit_code or 0) > 128:
        name = info.exit_signal or _signal_of(info.exit_code or 0)
        return f"stopped by SIG{name} and requeued by the scheduler"
    return REQUEUED_BY_SCHEDULER


def _signal_of(code: int) -> str:
    import signal

    try:
        return signal.Signals(code - 128).name[3:]
    except ValueError:
        return str(code - 128)


def _offset(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _log_span(value: object) -> tuple[int, int | None] | None:
    """``12`` (started at byte 12) or ``[12, 40]`` (bytes 12 to 40); None if neither."""
    if isinstance(value, list) and len(value) == 2:
        start, end = _offset(value[0]), _offset(value[1])
        return (start, end) if start is not None and end is not None and start <= end else None
    start = _offset(value)
    return None if start is None else (start, None)
