"""The scheduler interface. A backend knows one scheduler and nothing about notebooks.

Two levels: :class:`Backend` is what the core calls (submit, poll, cancel);
:class:`BatchBackend` implements it for command-line schedulers (SLURM, SGE, PBS), so a
new one only supplies directives, a few argv builders and parsers, and its state and
reason maps (the PSI/J shape).
"""

from __future__ import annotations

import secrets
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..common.errors import SubmitError, TransportError
from ..common.jobdir import parse_status
from ..common.states import Cause, JobState
from ..config.profile import Profile
from ..config.resources import Resources, refuse_unsupported
from ..transports.base import Transport

# re-exported: every backend imports the scheduler interface's types from here
from .observation import Observation as Observation
from .observation import task_observations as task_observations
from .script import render_script
from .statusdump import NO_DIR, parse_status_dump, read_status_lines

STAGE_FAILED = 97  # exit code of the staging script (see transports.base._STAGE)
IDS_PER_COMMAND = 1000  # native ids in one scheduler command line (cancel, history, query)


@dataclass
class ArraySpec:
    """An array job: ``tasks`` tasks, at most ``max_concurrent`` running at once (0: any)."""

    tasks: int
    max_concurrent: int = 0


@dataclass
class JobSpec:
    """Everything a backend needs to render and submit one job or one array."""

    job_id: str
    name: str
    job_dir: str  # absolute path on the target
    resources: Resources
    python: list[str]  # argv of the remote interpreter
    setup: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # native ids this job waits for
    array: ArraySpec | None = None
    env: dict[str, str] = field(default_factory=dict)  # exported (quoted) before setup
    workdir: str = ""  # where user code runs; "" is the job dir's work/
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (stored file, dest in workdir)


@dataclass(frozen=True)
class DependencyTarget:
    """A job a new submission waits for: a single job, or task ``task`` of an array."""

    native_id: str  # the job's or the array's native id
    task: int | None = None
    job_dir: str = ""  # where it runs (for schedulers that check its success themselves)


@dataclass
class WatchTarget:
    """What the watcher asks about: a job or an array, and its job dir."""

    native_id: str
    job_dir: str
    is_array: bool = False


def _nothing() -> None:
    return None


class Backend(ABC):
    """What the core needs from a scheduler."""

    kind: str = ""
    preview_note = ""  # what an offline backend (a preview) had to assume, if anything
    # Worth a status agent on the transport's machine that pushes status lines as they
    # are written (core/watching/agentlink.py): the job dirs are there and only polls
    # would see them.
    push_status = True

    def __init__(self, profile: Profile, transport: Transport) -> None:
        self.profile = profile
        self.transport = transport
        # Backends that see jobs end (the local one) call this so the watcher polls now.
        self.on_change: Callable[[], None] = _nothing

    @abstractmethod
    def submit(self, spec: JobSpec, files: Mapping[str, bytes]) -> str:
        """Stage ``files`` into ``spec.job_dir`` and submit; return the native id."""

    def submit_many(
        self, jobs: Sequence[tuple[JobSpec, Mapping[str, bytes]]]
    ) -> list[str | BaseException]:
        """Stage and submit several jobs; per job its native id or the exception
        :meth:`submit` raised (one refusal does not stop the others). This default submits
        them one by one; command-line schedulers do it in one round trip."""
        out: list[str | BaseException] = []
        for spec, files in jobs:
            try:
                out.append(self.submit(spec, files))
            except Exception as exc:  # handed to that job's future, with its sentence
                out.append(exc)
        return out

    @abstractmethod
    def poll(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        """Observe many jobs and arrays at once (O(1) scheduler calls), by native id."""

    def remove_spent(self, jobs_root: str) -> list[str]:
        """Remove what submissions left next to the job dirs that no job needs any more
        (``cl.jobs.gc()`` calls it after removing job dirs); the removed paths. Nothing by
        default; batch schedulers remove the array dirs of alike jobs (.batch_submit)."""
        return []

    def annotate(self, observations: Mapping[str, Observation]) -> None:
        """Read the backend's own words in status files into ``observations`` (in place).
        Polls call it, and so does push (core/watching/agentlink.py) for the lines it
        streams, so a word written by the job script is seen as soon as it is written.
        Nothing by default."""
        return None

    @abstractmethod
    def cancel(self, targets: Sequence[WatchTarget]) -> None:
        """Ask the scheduler to stop these jobs (pending or running; ``N`` of an array
        cancels it whole, ``N_T`` one task). The job dirs help schedulers that lost track."""

    @abstractmethod
    def describe(self) -> str:
        """One line naming the scheduler and its version; raises if it is not usable."""

    def parse_submit(self, stdout: str) -> str:
        """The native id from what submission printed (also kept in the job dir's
        ``submitted`` file, which is how a job of a dead kernel is found again)."""
        return stdout.strip()

    def job_script(self, spec: JobSpec) -> str:
        """The exact script that will be submitted, for users to read."""
        return render_script(spec)

    def task_id(self, array_native_id: str, task: int) -> str:
        """The scheduler's id of one array task (SLURM ``123_4``, PBS ``123[4]``)."""
        return f"{array_native_id}_{task}"

    def split_task_id(self, native: str) -> tuple[str, int] | None:
        """Inverse of :meth:`task_id`: ``(array id, task)``, or None for a plain job id."""
        array, sep, task = native.partition("_")
        return (array, int(task)) if sep and task.isdigit() else None

    def dependency_ids(self, targets: Sequence[DependencyTarget]) -> list[str]:
        """How this scheduler names what a job waits for, in order and without repeats.

        The default waits for each array task on its own; a scheduler that can only wait
        for a whole array (PBS Pro) spells the array once instead.
        """
        out: list[str] = []
        for t in targets:
            native = t.native_id if t.task is None else self.task_id(t.native_id, t.task)
            if native not in out:
                out.append(native)
        return out

    def max_array_size(self) -> int:
        """Most tasks one native array may have; larger maps are split."""
        return 1_000_000

    def probe_environment(self) -> dict[str, Any] | None:
        """A container image's Python (python, cloudpickle, executable); None: ask the transport."""
        return None

    def capacity(self, resources: Resources) -> int:
        """How many tasks of this size can run at once (0: unknown); sizes the map plan."""
        return 0

    def idle(self) -> bool:
        """Whether nothing of this backend is in flight (it may then be closed)."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Stop background machinery, if any."""


class BatchBackend(Backend):
    """A command-line batch scheduler reached through a transport."""

    STATE_MAP: Mapping[str, JobState] = {}
    REASON_MAP: Mapping[str, str] = {}
    # State or reason codes that say why a job ended (or never will start), neutrally.
    CAUSE_MAP: Mapping[str, Cause] = {}
    task_var = ""  # environment variable holding an array task's index
    version_argv: Sequence[str] = ()

    # -- what a scheduler module fills in ---------------------------------------------------
    @abstractmethod
    def directives(self, spec: JobSpec) -> list[str]:
        """Header lines (``#SBATCH --mem=...``) from the validated resources."""

    @abstractmethod
    def submit_argv(self, script: str, spec: JobSpec) -> list[str]:
        """The submit command, run inside the job dir."""

    @abstractmethod
    def parse_submit(self, stdout: str) -> str:
        """The native id from the submit command's output."""

    @abstractmethod
    def query_argv(self, native_ids: Sequence[str]) -> list[str]:
        """One command that reports every given job and every task of given arrays."""

    @abstractmethod
    def parse_query(self, stdout: str, stderr: str, returncode: int) -> dict[str, tuple[str, str]]:
        """``native id (or id_task) -> (state code, reason code)``; raise if it failed."""

    @abstractmethod
    def cancel_argv(self, native_ids: Sequence[str]) -> list[str]:
        """One command that cancels every given job."""

    def preamble(self, spec: JobSpec) -> list[str]:
        """Shell lines the job script runs right after ``cd "$JOB_DIR"`` (``$STATUS`` and,
        for arrays, ``$TASK`` are set), before the profile's setup lines. None by default;
        PBS Pro, which copies ``-o``/``-e`` files only when a job ends, redirects the job's
        output into the job dir here so it can be read while the job runs."""
        return []

    def coalesce_key(self, spec: JobSpec) -> tuple[str, ...] | None:
        """What single jobs must share to be submitted together as the tasks of one native
        array (:mod:`.batch_submit`): their header lines without the output files. None: this
        job stays a job of its own (an array, a dependency, a scheduler without the hook, or
        ``extra`` options that name outputs or arrays themselves)."""
        return None

    def coalesced_header(self, key: tuple[str, ...], tasks: int) -> list[str]:
        """Header lines of the array that runs ``tasks`` jobs sharing ``key``: task ``i``
        runs the job linked as ``i`` in the submission directory (stdout/stderr included)."""
        raise NotImplementedError(f"{self.kind} does not submit alike jobs as one array")

    def explain_submit_error(self, stderr: str) -> str:
        """Turn the scheduler's refusal into a sentence saying what to change."""
        return stderr.strip()

    def cancel_error_is_benign(self, stderr: str) -> bool:
        """Whether a cancel command that failed only said the jobs had already ended (PBS
        refuses ``qdel`` of a finished job); then there is nothing left to cancel."""
        return False

    def reason(self, state_code: str, reason_code: str) -> str:
        """A sentence a person understands, from the scheduler's reason code."""
        if not reason_code or reason_code in ("None", "(null)"):
            return ""
        return self.REASON_MAP.get(reason_code, f"scheduler says: {reason_code}")

    # -- shared machinery -------------------------------------------------------------------
    def job_script(self, spec: JobSpec) -> str:
        refuse_unsupported(spec.resources, self.kind)  # what it lacks, in its own words
        return render_script(spec, self.directives(spec), self.task_var, self.preamble(spec))

    def describe(self) -> str:
        res = self.transport.run(self.version_argv)
        if res.returncode != 0:
            raise TransportError(
                f"`{self.version_argv[0]}` is not available on {self.transport.label} "
                f"({res.err.strip() or res.returncode}): is this a {self.kind} login node? "
                "Add setup lines if the scheduler's commands need a module."
            )
        return res.out.strip().splitlines()[0] if res.out.strip() else self.kind

    def submit(self, spec: JobSpec, files: Mapping[str, bytes]) -> str:
        staged = {**files, "job.sh": self.job_script(spec).encode()}
        res = self.transport.stage(
            spec.job_dir, staged, then=self.submit_argv("job.sh", spec), executable=["job.sh"]
        )
        if res.returncode == STAGE_FAILED:
            raise SubmitError(
                f"could not create the job directory {spec.job_dir} on {self.transport.label}: "
                f"{res.err.strip()}. Check the profile's remote_dir (free space, permissions)."
            )
        if res.returncode != 0:
            raise SubmitError(f"{self.kind} refused the job: {self.explain_submit_error(res.err)}")
        return self.parse_submit(res.out)

    def remove_spent(self, jobs_root: str) -> list[str]:
        from .batch_submit import remove_spent_arrays

        return remove_spent_arrays(self, jobs_root)

    def submit_many(
        self, jobs: Sequence[tuple[JobSpec, Mapping[str, bytes]]]
    ) -> list[str | BaseException]:
        """All of ``jobs`` in one round trip (see :mod:`.batch_submit`) when they share a
        parent directory, as every ``submit()`` of a runtime does."""
        parents = {spec.job_dir.rsplit("/", 1)[0] for spec, _ in jobs}
        if len(jobs) < 2 or len(parents) != 1:
            return super().submit_many(jobs)
        from .batch_submit import submit_batch

        return submit_batch(self, jobs)

    def _observation(self, code: str, reason_code: str) -> Observation:
        return Observation(
            state=self.STATE_MAP.get(code, JobState.PENDING),
            reason=self.reason(code, reason_code),
            raw=f"{code} {reason_code}".strip(),
            cause=self.CAUSE_MAP.get(code) or self.CAUSE_MAP.get(reason_code),
        )

    def poll(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        if not targets:
            return {}
        marker = f"--clusterlab-{secrets.token_hex(8)}--"
        # The query first, then the status files: a job that leaves the queue between the
        # two is seen finished in its status file rather than lost.
        # The script travels on stdin (`sh -s`): with thousands of jobs it is larger than a
        # command line may be (sshd drops a connection whose request passes 256 KB).
        script = (
            f"{shlex.join(self.query_argv([t.native_id for t in targets]))} </dev/null\n"
            f"printf '\\n%s %s\\n' {shlex.quote(marker)} \"$?\"\n"
            + read_status_lines([t.job_dir for t in targets])
        )
        res = self.transport.run(["sh", "-s"], stdin=script.encode())
        head, sep, tail = res.stdout.partition(f"\n{marker} ".encode())
        if not sep:
            raise TransportError(f"{self.transport.label}: status poll failed: {res.err.strip()}")
        rc_text, _, status_blob = tail.partition(b"\n")
        parsed = self.parse_query(head.decode("utf-8", "replace"), res.err, int(rc_text))
        statuses = parse_status_dump(status_blob)
        tasks: dict[str, dict[int, Observation]] = {}
        for native, (code, reason_code) in parsed.items():
            split = self.split_task_id(native)
            if split:
                tasks.setdefault(split[0], {})[split[1]] = self._observation(code, reason_code)
        out = {}
        for t in targets:
            files = statuses.get(t.job_dir, {})
            if t.is_array:
                obs = Observation(None, tasks=task_observations(files, tasks.get(t.native_id, {})))
            elif t.native_id in parsed:
                obs = self._observation(*parsed[t.native_id])
            else:
                obs = Observation(None)
            obs.status = files.get("status")
            if NO_DIR in files:
                for seen in (obs, *obs.tasks.values()):
                    seen.dir_missing = True
            out[t.native_id] = obs
        self._from_history(out, targets)
        return out

    def history_argv(self, native_ids: Sequence[str]) -> list[str] | None:
        """A command asking the scheduler's accounting about jobs that left the queue
        (``sacct``), or None when there is none; its answer goes to :meth:`parse_query`."""
        return None

    def _from_history(self, out: dict[str, Observation], targets: Sequence[WatchTarget]) -> None:
        """Jobs gone from the queue without a final status line: ask accounting, if any,
        how they ended (one more round trip, only then)."""
        gone = [
            t.native_id
            for t in targets
            if not t.is_array
            and out[t.native_id].state is None
            and parse_status(out[t.native_id].status).finished is None
        ]
        gone = gone[:IDS_PER_COMMAND]  # the rest at the next poll (a command line is finite)
        argv = self.history_argv(gone) if gone else None
        if argv is None:
            return
        res = self.transport.run(argv)
        if res.returncode != 0:
            return  # accounting is a bonus: the status files and the grace still decide
        for native, codes in self.parse_query(res.out, res.err, 0).items():
            if native in gone:
                seen = self._observation(*codes)
                seen.status = out[native].status
                out[native] = seen

    def cancel(self, targets: Sequence[WatchTarget]) -> None:
        native_ids = [t.native_id for t in targets]
        # at most IDS_PER_COMMAND ids per command: a command line has a size limit
        for start in range(0, len(native_ids), IDS_PER_COMMAND):
            chunk = native_ids[start : start + IDS_PER_COMMAND]
            res = self.transport.run(self.cancel_argv(chunk))
            if res.returncode != 0 and not self.cancel_error_is_benign(res.err):
                raise TransportError(
                    f"{self.kind}: cancelling {', '.join(chunk)} failed: {res.err.strip()}"
                )
