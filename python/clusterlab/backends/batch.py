"""The batch-scheduler implementation of the scheduler interface (the PSI/J shape).

:class:`BatchBackend` implements :class:`~.base.Backend` for command-line schedulers
(SLURM, Grid Engine, PBS, TORQUE): submit in one round trip (the job dir staged and the
submit command run by one script), poll every job with one query plus its status files,
cancel in chunks, ask accounting about jobs that left the queue. A scheduler module only
supplies directives, a few argv builders and parsers, and its state, reason and cause maps.
"""

from __future__ import annotations

import secrets
import shlex
from abc import abstractmethod
from collections.abc import Mapping, Sequence

from ..common.errors import SubmitError, TransportError
from ..common.jobdir import parse_status
from ..common.states import Cause, JobState
from ..config.resources import refuse_unsupported
from .base import IDS_PER_COMMAND, STAGE_FAILED, Backend, JobSpec, WatchTarget
from .batch_submit import remove_spent_arrays, submit_batch
from .observation import Observation, task_observations
from .script import render_script
from .statusdump import NO_DIR, inline_result, parse_status_dump, read_status_lines


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
        return render_script(
            spec,
            self.directives(spec),
            self.task_var,
            self.preamble(spec),
            warning_signal=self.warning_signal(),
            forward_warning=self.warns_shell_only(),
        )

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
        return remove_spent_arrays(self, jobs_root)

    def submit_many(
        self, jobs: Sequence[tuple[JobSpec, Mapping[str, bytes]]]
    ) -> list[str | BaseException]:
        """All of ``jobs`` in one round trip (see :mod:`.batch_submit`) when they share a
        parent directory, as every ``submit()`` of a runtime does."""
        parents = {spec.job_dir.rsplit("/", 1)[0] for spec, _ in jobs}
        if len(jobs) < 2 or len(parents) != 1:
            return super().submit_many(jobs)
        return submit_batch(self, jobs)

    def _observation(self, code: str, reason_code: str) -> Observation:
        # A poll of 10,000 jobs sees a handful of (state, reason) pairs: each is translated
        # once (a new Observation still per job: the poll fills in its status file).
        memo = self._translated
        if memo is None:
            memo = self._translated = {}
        known = memo.get((code, reason_code))
        if known is None:
            known = (
                self.STATE_MAP.get(code, JobState.PENDING),
                self.reason(code, reason_code),
                f"{code} {reason_code}".strip(),
                self.CAUSE_MAP.get(code) or self.CAUSE_MAP.get(reason_code),
            )
            if len(memo) < 4096:  # a bound, were reasons ever unique per job
                memo[(code, reason_code)] = known
        state, reason, raw, cause = known
        return Observation(state=state, reason=reason, raw=raw, cause=cause)

    _translated: dict[tuple[str, str], tuple[JobState, str, str, Cause | None]] | None = None

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
            if not t.is_array:
                obs.result = inline_result(files)
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
