"""SLURM: sbatch, squeue, scancel. Only header lines, argv builders, parsers and maps."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..common.errors import TransportError
from ..common.states import Cause, JobState
from ..config.profile import Profile
from ..config.resources import Resources, format_time
from ..transports.base import Transport
from .base import IDS_PER_COMMAND, JobSpec
from .batch import BatchBackend
from .script import script_token

_ID_RE = re.compile(r"^\d+(_\d+)?\Z")
# extra options that would clash with an array's own (--array, --output, --error)
_NAMES_OUTPUT = re.compile(r"^(-[aoeD]|--(array|output|error|chdir)(=|\s|\Z))")
_ACCOUNTING = re.compile(r"^AccountingStorageType\s*=\s*accounting_storage/(?!none)", re.M)

STATE_MAP: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "SUSPENDED": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,  # the status file decides how it ended
    "RESIZING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED,
    "NODE_FAIL": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "PREEMPTED": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT,
    "DEADLINE": JobState.TIMEOUT,
}

# What SLURM's end states and reasons mean, neutrally (the settle rules read these).
CAUSE_MAP: dict[str, Cause] = {
    "OUT_OF_MEMORY": Cause.OUT_OF_MEMORY,
    "OutOfMemory": Cause.OUT_OF_MEMORY,
    "TIMEOUT": Cause.TIME_LIMIT,
    "DEADLINE": Cause.TIME_LIMIT,
    "TimeLimit": Cause.TIME_LIMIT,
    "DependencyNeverSatisfied": Cause.DEPENDENCY_NEVER_SATISFIED,
    "NODE_FAIL": Cause.NODE_FAILURE,
    "BOOT_FAIL": Cause.NODE_FAILURE,
    "NodeFail": Cause.NODE_FAILURE,
    "PREEMPTED": Cause.PREEMPTED,
    "CANCELLED": Cause.CANCELLED,
    "REVOKED": Cause.CANCELLED,
}

# Pending reasons (squeue %r) and end states, as sentences.
REASON_MAP: dict[str, str] = {
    "Priority": "waiting behind higher-priority jobs",
    "Resources": "waiting for resources (the nodes it needs are busy)",
    "Dependency": "waiting for the jobs it depends on",
    "DependencyNeverSatisfied": "dependency failed: a job it depends on did not succeed",
    "BeginTime": "waiting for its requested start time",
    "JobHeldUser": "held by you: release it with `scontrol release JOBID`",
    "JobHeldAdmin": "held by an administrator",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "PartitionNodeLimit": "asks for more nodes than the partition allows",
    "PartitionTimeLimit": "asks for more time than the partition allows",
    "PartitionConfig": "the request does not fit the partition (too many cores, memory or GPUs)",
    "ReqNodeNotAvail": "the nodes it needs are unavailable (down, drained or reserved)",
    "NodeDown": "a node it needs is down",
    "BadConstraints": "no node has the requested features",
    "InvalidAccount": "the account does not exist or you may not use it",
    "InvalidQOS": "the QOS does not exist or you may not use it",
    "Reservation": "waiting for its reservation to start",
    "Cleaning": "the scheduler is cleaning up a previous run",
    "Prolog": "the node is running its start-up script",
    "QOSMaxJobsPerUserLimit": "you already run as many jobs as your QOS allows",
    "AssocMaxJobsLimit": "you already run as many jobs as your account allows",
    "AssocGrpCpuLimit": "your group's CPU limit is reached; it waits for others to finish",
    "AssocGrpMemLimit": "your group's memory limit is reached; it waits for others to finish",
    "QOSGrpCpuLimit": "the QOS CPU limit is reached; it waits for others to finish",
    "JobArrayTaskLimit": "waiting under the array's concurrency limit (%N)",
    "launch failed requeued held": "its launch failed and it was held; ask your admins",
    "TimeLimit": "killed after reaching its time limit",
    "OutOfMemory": "killed for using more memory than requested",
    "NonZeroExitCode": "exited with an error",
    "NodeFail": "a node it ran on failed",
}

_SUBMIT_ERRORS: list[tuple[str, str]] = [
    (
        "Requested node configuration is not available",
        "no node can satisfy the request (too many cores, too much memory or too many GPUs "
        "for any node in the partition): ask for less or choose another partition",
    ),
    ("invalid partition specified", "the partition does not exist: check `sinfo -s` for names"),
    (
        "Invalid account",
        "the account does not exist or you may not use it: see `sacctmgr show assoc user=$USER`",
    ),
    (
        "Requested time limit is invalid",
        "the time limit is longer than the partition allows: ask for less time",
    ),
    (
        "More processors requested than permitted",
        "more cores than the partition allows: ask for fewer",
    ),
    (
        "Invalid qos",
        "the QOS does not exist or you may not use it: see `sacctmgr show assoc user=$USER`",
    ),
    (
        "Invalid feature specification",
        "no node has the features in constraint= (or it is not a valid expression): "
        "`sinfo -o '%P %f'` lists the features of each partition's nodes",
    ),
    ("Invalid generic resource", "the GPU/gres request is not valid on this cluster"),
    ("Job dependency problem", "a dependency is invalid (the job it waits for no longer exists)"),
    (
        "Job violates accounting/QOS policy",
        "your account or QOS limits how many jobs you may have queued (MaxSubmitJobs) or how "
        "large they may be: wait for some to end, send fewer (a map packs many items into "
        "one task), or see `sacctmgr show assoc user=$USER` and `sacctmgr show qos`",
    ),
    *(
        (
            needle,
            "the cluster accepts no more jobs for now (its queue is full: Slurm's MaxJobCount; "
            "sbatch retried for two minutes): wait for jobs to end, or send fewer (a map packs "
            "many items into one task)",
        )
        for needle in ("temporarily unable to accept job", "job queue full")
    ),
]


class SlurmBackend(BatchBackend):
    """SLURM over any transport; status for all active jobs in one ``squeue`` call."""

    kind = "slurm"
    STATE_MAP = STATE_MAP
    REASON_MAP = REASON_MAP
    CAUSE_MAP = CAUSE_MAP
    version_argv = ("sbatch", "--version")
    task_var = "SLURM_ARRAY_TASK_ID"

    def __init__(self, profile: Profile, transport: Transport) -> None:
        super().__init__(profile, transport)
        self._cpus = {}

    def directives(self, spec: JobSpec) -> list[str]:
        r = spec.resources
        opts = [f"--job-name={script_token(spec.name)}"]
        if spec.array:
            throttle = f"%{spec.array.max_concurrent}" if spec.array.max_concurrent else ""
            opts.append(f"--array=0-{spec.array.tasks - 1}{throttle}")
            opts += ["--output=stdout.%a", "--error=stderr.%a"]
        else:
            opts += ["--output=stdout", "--error=stderr"]
        if r.nodes:
            opts.append(f"--nodes={r.nodes}")
        # the runner runs once, as the batch step, and starts the tasks with srun
        opts.append(f"--ntasks={r.task_count}")
        if r.tasks_per_node:
            opts.append(f"--ntasks-per-node={r.tasks_per_node}")
        if r.cores:
            opts.append(f"--cpus-per-task={r.cores}")
        if r.memory_mb:
            opts.append(f"--mem={r.memory_mb}M")  # per node
        if r.time_s:
            opts.append(f"--time={format_time(r.time_s)}")
        if r.gpus:
            typed = f"{r.gpu_type}:" if r.gpu_type else ""
            opts.append(f"--gres=gpu:{typed}{r.gpus}")  # per node
        if r.partition:
            opts.append(f"--partition={r.partition}")
        if r.account:
            opts.append(f"--account={r.account}")
        if r.qos:
            opts.append(f"--qos={r.qos}")
        if r.constraint:
            opts.append(f"--constraint={r.constraint}")
        if spec.after:
            opts.append(f"--dependency=afterok:{':'.join(spec.after)}")
        if spec.requeue_grace:
            # Preemption requeues it; USR2 warns the batch shell (which passes it on to the
            # runner) before the time limit; a rerun appends to its logs instead of
            # truncating the first run's.
            opts += ["--requeue", f"--signal=B:USR2@{spec.requeue_grace}", "--open-mode=append"]
        opts.extend(r.extra)
        return [f"#SBATCH {opt}" for opt in opts]

    def coalesce_key(self, spec: JobSpec) -> tuple[str, ...] | None:
        if (
            spec.array
            or spec.after
            or spec.requeue_grace
            or any(_NAMES_OUTPUT.match(o) for o in spec.resources.extra)
        ):
            return None
        own = ("#SBATCH --output=", "#SBATCH --error=")
        return tuple(line for line in self.directives(spec) if not line.startswith(own))

    def coalesced_header(self, key: tuple[str, ...], tasks: int) -> list[str]:
        # relative to the submission directory, where task i's link leads to its job dir
        return [
            *key,
            f"#SBATCH --array=0-{tasks - 1}",
            "#SBATCH --output=%a/stdout",
            "#SBATCH --error=%a/stderr",
        ]

    def submit_argv(self, script: str, spec: JobSpec) -> list[str]:
        return ["sbatch", "--parsable", script]

    def requeue_argv(self) -> list[str]:
        """What the runner runs to requeue its own job when warned (the job's id from
        its environment, expanded by the runner; no shell)."""
        return ["scontrol", "requeue", "$SLURM_JOB_ID"]

    def parse_submit(self, stdout: str) -> str:
        # --parsable prints "jobid" or "jobid;cluster"
        native = stdout.strip().splitlines()[-1].split(";")[0] if stdout.strip() else ""
        if not _ID_RE.match(native):
            raise TransportError(f"sbatch printed no job id: {stdout!r}")
        return native

    def query_argv(self, native_ids: Sequence[str]) -> list[str]:
        ids = [n for n in native_ids if _ID_RE.match(n)]
        # More ids than a command line holds well (one argument may be 128 KB): every job
        # of the user instead (--me), in the same one call; the poll picks out its own.
        which = "--me" if len(ids) > IDS_PER_COMMAND else f"--jobs={','.join(ids)}"
        # --array: one line per array task, pending ones included
        return ["squeue", "--noheader", "--array", "--states=all", which, "--format=%i|%T|%r"]

    def parse_query(self, stdout: str, stderr: str, returncode: int) -> dict[str, tuple[str, str]]:
        if returncode != 0:
            # squeue fails when every id has left its memory: that is "not listed", not an error
            if "Invalid job id" in stderr:
                return {}
            raise TransportError(f"squeue failed: {stderr.strip() or stdout.strip()}")
        out = {}
        for line in stdout.splitlines():
            parts = line.strip().split("|", 2)
            if len(parts) == 3 and parts[1].strip():
                # squeue prints one word; sacct may add who did it ("CANCELLED by 1000")
                out[parts[0]] = (parts[1].split()[0], parts[2])
        return out

    def history_argv(self, native_ids: Sequence[str]) -> list[str] | None:
        """``sacct`` for jobs that left squeue, when the cluster keeps accounting (asked
        once; without slurmdbd, as in a sandbox, there is nothing to ask)."""
        if self._accounting is None:
            res = self.transport.run(["scontrol", "show", "config"])
            self._accounting = bool(
                re.search(
                    r"^AccountingStorageType\s*=\s*accounting_storage/(?!none)", res.out, re.M
                )
            )
        ids = [n for n in native_ids if _ID_RE.match(n)]
        if not self._accounting or not ids:
            return None
        return ["sacct", "-n", "-P", "-X", f"--jobs={','.join(ids)}", "--format=JobID,State,Reason"]

    _accounting: bool | None = None

    def cancel_argv(self, native_ids: Sequence[str]) -> list[str]:
        return ["scancel", *[n for n in native_ids if _ID_RE.match(n)]]

    def max_array_size(self) -> int:
        """SLURM's MaxArraySize (task ids run 0..MaxArraySize-1); asked once."""
        if self._max_array is None:
            self._read_limits(None)
        return self._max_array or 1001

    def capacity(self, resources: Resources) -> int:
        """Array tasks of this size (cores x tasks CPUs each) that fit on the partition's
        usable CPUs at once (sinfo's allocated + idle), asked once per partition together
        with MaxArraySize."""
        partition = resources.partition or ""
        if partition not in self._cpus:
            self._read_limits(partition)
        return self._cpus.get(partition, 0) // ((resources.cores or 1) * resources.task_count)

    def _read_limits(self, partition: str | None) -> None:
        argv = ["-p", partition] if partition else []
        res = self.transport.script(_LIMITS, *argv)
        array = re.search(r"^MaxArraySize\s*=\s*(\d+)", res.out, re.MULTILINE)
        if self._max_array is None:
            self._max_array = int(array.group(1)) if array else 1001
        if partition is not None:
            self._cpus[partition] = _usable_cpus(res.out)

    _max_array: int | None = None
    _cpus: dict[str, int]

    def explain_submit_error(self, stderr: str) -> str:
        for needle, sentence in _SUBMIT_ERRORS:
            if needle.lower() in stderr.lower():
                return f"{sentence} (sbatch: {stderr.strip().splitlines()[-1]})"
        return stderr.strip() or "sbatch failed without a message"


# MaxArraySize and the CPU counts of the partition ("CPUS allocated/idle/other/total" per
# line of sinfo; several lines when a partition's nodes differ).
_LIMITS = """
scontrol show config | grep '^MaxArraySize'
sinfo --noheader --format='CPUS %P %C' "$@"
"""


def _usable_cpus(out: str) -> int:
    """Allocated + idle CPUs (not drained/down) from ``CPUS PARTITION A/I/O/T`` lines: of
    the default partition (``debug*``) when several are listed (a job without a partition
    runs there, and a node in two partitions would count twice), else of every line."""
    rows: list[tuple[str, int]] = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "CPUS":
            counts = parts[2].split("/")
            if len(counts) == 4 and all(c.isdigit() for c in counts):
                rows.append((parts[1], int(counts[0]) + int(counts[1])))
    default = [cpus for name, cpus in rows if name.endswith("*")]
    return sum(default) if default else sum(cpus for _, cpus in rows)
