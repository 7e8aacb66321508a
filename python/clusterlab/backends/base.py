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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import SubmitError, TransportError
from ..profile import Profile
from ..resources import Resources
from ..states import JobState
from ..transports.base import _READ_FILES, Transport, parse_files

STAGE_FAILED = 97  # exit code of the staging script (see transports.base._STAGE)


@dataclass
class JobSpec:
    """Everything a backend needs to render and submit one job."""

    job_id: str
    name: str
    job_dir: str  # absolute path on the target
    resources: Resources
    python: list[str]  # argv of the remote interpreter
    setup: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # native ids this job waits for


@dataclass
class Observation:
    """What one poll learnt about a job: the scheduler's view and its status file."""

    state: JobState | None  # None: the scheduler no longer (or not yet) lists the job
    reason: str = ""
    raw: str = ""  # the scheduler's own code, for logs and the ledger
    status: bytes | None = None  # contents of the job's status file, if any


def render_script(spec: JobSpec, header: Sequence[str] = ()) -> str:
    """The job script every backend runs: cd, setup lines, check Python, exec the runner.

    Only ``spec.setup`` (the user's own shell lines) is written as is; every value is
    quoted, and a missing interpreter is recorded in the status file so the job is settled
    with a sentence instead of an unexplained exit code.
    """
    lines = ["#!/bin/sh", *header, f"# clusterlab job {spec.job_id} ({spec.name})"]
    lines.append(f"JOB_DIR={shlex.quote(spec.job_dir)}")
    lines.append('cd "$JOB_DIR" || exit 97')
    if spec.setup:
        lines.append("# profile setup lines")
        lines.extend(spec.setup)
    lines += [
        f"if ! command -v {shlex.quote(spec.python[0])} >/dev/null 2>&1; then",
        '  printf \'%s\\n\' \'{"event": "finished", "outcome": "no_python"}\' >> status',
        '  echo "clusterlab: the profile\'s python command was not found" >&2',
        "  exit 127",
        "fi",
        f'exec {shlex.join(spec.python)} runner.py "$JOB_DIR"',
    ]
    return "\n".join(lines) + "\n"


class Backend(ABC):
    """What the core needs from a scheduler."""

    kind: str = ""

    def __init__(self, profile: Profile, transport: Transport) -> None:
        self.profile = profile
        self.transport = transport

    @abstractmethod
    def submit(self, spec: JobSpec, files: Mapping[str, bytes]) -> str:
        """Stage ``files`` into ``spec.job_dir`` and submit; return the native id."""

    @abstractmethod
    def poll(self, jobs: Sequence[tuple[str, str]]) -> dict[str, Observation]:
        """Observe many ``(native_id, job_dir)`` at once: O(1) scheduler calls."""

    @abstractmethod
    def cancel(self, native_ids: Sequence[str]) -> None:
        """Ask the scheduler to stop these jobs (pending or running)."""

    def job_script(self, spec: JobSpec) -> str:
        """The exact script that will be submitted, for users to read."""
        return ""

    @abstractmethod
    def describe(self) -> str:
        """One line naming the scheduler and its version; raises if it is not usable."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Stop background machinery, if any."""


class BatchBackend(Backend):
    """A command-line batch scheduler reached through a transport."""

    STATE_MAP: Mapping[str, JobState] = {}
    REASON_MAP: Mapping[str, str] = {}
    directive_prefix = "#"

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
        """One command that reports every given job."""

    @abstractmethod
    def parse_query(self, stdout: str, stderr: str, returncode: int) -> dict[str, tuple[str, str]]:
        """``native_id -> (state code, reason code)``; raise TransportError if it failed."""

    @abstractmethod
    def cancel_argv(self, native_ids: Sequence[str]) -> list[str]:
        """One command that cancels every given job."""

    version_argv: Sequence[str] = ()

    def describe(self) -> str:
        res = self.transport.run(self.version_argv)
        if res.returncode != 0:
            raise TransportError(
                f"`{self.version_argv[0]}` is not available on {self.transport.label} "
                f"({res.err.strip() or res.returncode}): is this a {self.kind} login node? "
                "Add setup lines if the scheduler's commands need a module."
            )
        return res.out.strip().splitlines()[0] if res.out.strip() else self.kind

    def explain_submit_error(self, stderr: str) -> str:
        """Turn the scheduler's refusal into a sentence saying what to change."""
        return stderr.strip()

    def reason(self, state_code: str, reason_code: str) -> str:
        """A sentence a person understands, from the scheduler's reason code."""
        if not reason_code or reason_code in ("None", "(null)"):
            return ""
        return self.REASON_MAP.get(reason_code, f"scheduler says: {reason_code}")

    # -- shared machinery -------------------------------------------------------------------
    def job_script(self, spec: JobSpec) -> str:
        return render_script(spec, self.directives(spec))

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

    def poll(self, jobs: Sequence[tuple[str, str]]) -> dict[str, Observation]:
        if not jobs:
            return {}
        marker = f"--clusterlab-{secrets.token_hex(8)}--"
        # The query first, then the status files: a job that leaves the queue between the
        # two is seen finished in its status file rather than lost.
        script = (
            f"{shlex.join(self.query_argv([nid for nid, _ in jobs]))}\n"
            f"printf '\\n%s %s\\n' {shlex.quote(marker)} \"$?\"\n" + _READ_FILES
        )
        res = self.transport.script(script, *[f"{d}/status" for _, d in jobs])
        head, sep, tail = res.stdout.partition(f"\n{marker} ".encode())
        if not sep:
            raise TransportError(f"{self.transport.label}: status poll failed: {res.err.strip()}")
        rc_text, _, files_blob = tail.partition(b"\n")
        parsed = self.parse_query(head.decode("utf-8", "replace"), res.err, int(rc_text))
        statuses = parse_files(files_blob)
        out = {}
        for nid, job_dir in jobs:
            code, reason_code = parsed.get(nid, ("", ""))
            out[nid] = Observation(
                state=self.STATE_MAP.get(code, JobState.PENDING) if code else None,
                reason=self.reason(code, reason_code),
                raw=f"{code} {reason_code}".strip(),
                status=statuses.get(f"{job_dir}/status"),
            )
        return out

    def cancel(self, native_ids: Sequence[str]) -> None:
        if not native_ids:
            return
        res = self.transport.run(self.cancel_argv(native_ids))
        if res.returncode != 0:
            raise TransportError(
                f"{self.kind}: cancelling {', '.join(native_ids)} failed: {res.err.strip()}"
            )
