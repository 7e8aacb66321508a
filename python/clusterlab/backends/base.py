"""The scheduler interface. A backend knows one scheduler and nothing about notebooks.

:class:`Backend` is what the core calls (submit, poll, cancel), with the values that cross
the seam (:class:`JobSpec`, :class:`WatchTarget`, :class:`Observation`). Command-line
schedulers (SLURM, SGE, PBS) implement it through :class:`.batch.BatchBackend`, schedulers
without a command line (Kubernetes, the ``direct`` host queue) directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.profile import Profile
from ..config.resources import Resources
from ..transports.base import Transport

# re-exported: every backend imports the scheduler interface's types from here
from .observation import Observation as Observation
from .observation import task_observations as task_observations
from .script import render_script

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
    # Programs the command runs besides python[0] (a container engine behind flock),
    # checked on PATH where the job runs, so a node without one fails with its name.
    needs: list[str] = field(default_factory=list)
    # requeue=True: seconds before the time limit the job is warned (USR2, passed on to the
    # runner by the job script); 0: no requeue (config/attempts.py)
    requeue_grace: int = 0


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

    def requeue_argv(self) -> list[str]:
        """The command a running job runs to requeue itself when warned of its time limit
        (``$VAR`` names expanded from the job's environment); [] where the scheduler has
        none, and then ``requeue=True`` is refused at submission unless it has a
        :meth:`requeue_exit_code`."""
        return []

    def warning_signal(self) -> str:
        """The signal (name without ``SIG``) by which the scheduler warns a requeue job of
        its time limit; the job script and the runner both listen for it."""
        return "USR2"

    def warns_shell_only(self) -> bool:
        """Whether the warning reaches only the job's shell (SLURM's ``--signal=B:``), which
        must pass it on to the runner; False: it reaches every process of the job (Grid
        Engine's s_rt), and a second copy from the shell would reach a runner already
        ending (Python drops its handlers at exit, and the copy would kill it)."""
        return True

    def requeue_exit_code(self) -> int:
        """The exit code by which a job asks the scheduler to run it again (Grid Engine's
        99 for a rerunnable job): when warned, the runner ends the run with it instead of
        running ``requeue_argv``. 0: none."""
        return 0

    def requeues_by_resubmission(self) -> bool:
        """Whether ``requeue=True`` means: a run that was stopped to run again (SIGTERM
        with requeue on: the runner notes it) is submitted again by the watcher, up to
        ``max_requeues``: for a scheduler that stops jobs but cannot requeue them
        (Kubernetes deletes an evicted or preempted pod). False: ``requeue_argv`` or
        nothing."""
        return False

    def can_resubmit(self) -> bool:
        """Whether a job dir that ran may be submitted again as is (``retries=``): the
        scheduler keeps nothing of the earlier run in the job dir that would make the new
        submission look ended."""
        return True

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
