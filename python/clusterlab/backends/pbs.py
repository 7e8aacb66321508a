"""PBS Professional (and OpenPBS): qsub, qstat, qdel. Only header lines, argv builders,
parsers and maps.

What PBS Pro does differently from SLURM, and how this module meets it:

- ids are ``123.server``; an array is ``124[].server`` and its subjobs ``124[3].server``.
- ``-J X-Y`` needs X < Y, so a one-task array is ``-J 0-1:2`` (indices 0..1 by 2: just 0).
  The ``%N`` throttle (``max_run_subjobs``) needs PBS Pro 2021.1 / OpenPBS 22.05 or later.
- ``afterok`` can name a whole array (``124[]``), never one subjob: waiting for some items
  of a map waits for all of it.
- A dependent whose ``afterok`` job did not succeed is deleted by the server (it shows as
  finished, never ran, no ``Exit_status``), not left pending as in SLURM.
- ``-o``/``-e`` files are copied only when the job ends, so the script sends its output to
  the job dir itself (``-o /dev/null -e /dev/null`` plus a redirect in :meth:`preamble`).
- Finished jobs are listed by ``qstat -x`` only when the server keeps job history
  (``job_history_enable``, off by default); without it a finished job vanishes and its
  status file settles it. The backend asks the server once which it is.
- How a job ended: ``Exit_status`` -29 is the walltime limit, -27/-26 memory, 256+N
  death by signal N; substate 91 means deleted (qdel), 92 finished, 93 failed.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Sequence

from ..common import jobdir
from ..common.errors import ResourceError, TransportError
from ..common.states import Cause, JobState
from ..config.profile import Profile
from ..transports.base import Transport
from . import pbs_request
from .base import DependencyTarget, JobSpec
from .batch import BatchBackend
from .script import lettered_token

SERVER_DEFAULT_ARRAY_SIZE = 10000  # max_array_size's default
ID_RE = re.compile(r"^\d+(\[\d*\])?(\.[A-Za-z0-9_-][A-Za-z0-9_.-]*)?\Z")
_TASK_RE = re.compile(r"^(\d+)\[(\d+)\](.*)\Z")
# Unknown (gone) or finished jobs: PBS Pro's wording, then TORQUE's for a finished job.
_BENIGN = re.compile(r"Unknown Job Id|Job has finished|Invalid state for job - COMPLETE")
# job_state letters (qstat); ended jobs get ":finished", ":failed", ":terminated" or
# ":deleted" from their substate and Exit_status (see _codes).
STATE_MAP: dict[str, JobState] = {
    **dict.fromkeys("QHWTSU", JobState.PENDING),  # S, U: suspended (as SLURM's SUSPENDED)
    **dict.fromkeys("REB", JobState.RUNNING),  # E: exiting, B: an array that has begun
    "M": JobState.FAILED,  # moved to another server
    **{
        f"{letter}:{end}": state
        for letter in "FX"  # F: a finished job, X: a finished subjob
        for end, state in (
            ("finished", JobState.COMPLETED),  # the status file decides how it ended
            ("failed", JobState.FAILED),
            ("terminated", JobState.CANCELLED),
            ("deleted", JobState.CANCELLED),
        )
    },
}

CAUSE_MAP: dict[str, Cause] = {
    "walltime": Cause.TIME_LIMIT,
    "mem": Cause.OUT_OF_MEMORY,
    "vmem": Cause.OUT_OF_MEMORY,
    "dependency failed": Cause.DEPENDENCY_NEVER_SATISFIED,
    "F:terminated": Cause.CANCELLED,
    "X:terminated": Cause.CANCELLED,
}

# Reason codes made by _codes, as sentences (scheduler comments are read by _comment).
REASON_MAP: dict[str, str] = {
    "dependency": "waiting for the jobs it depends on",
    "dependency failed": (
        "dependency failed: a job it depends on did not succeed, so PBS deleted it"
    ),
    "user hold": "held by you: release it with `qrls JOBID`",
    "operator hold": "held by an operator or administrator",
    "system hold": "held by PBS (system hold): ask your admins",
    "bad password hold": "held because PBS has no valid password for you: ask your admins",
    "execution time": "waiting for its requested start time",
    "transit": "being moved to another queue or server",
    "suspended": "suspended by the scheduler or an administrator",
    "moved": "moved to another PBS server (peer scheduling): clusterlab cannot follow it",
    "queued": "queued: waiting for the scheduler to start it",
    "qdel": "deleted (qdel) by you or an administrator",
    "deleted": "deleted by you or an administrator before it started",
    "walltime": "killed after reaching its time limit",
    "mem": "killed for using more memory than requested",
    "vmem": "killed for using more virtual memory than requested",
    "cput": "killed for using more CPU time than its cput limit",
    "ncpus": "killed for using more CPUs than requested",
}

_COMMENTS: list[tuple[str, str]] = [
    ("concurrent running subjobs limit", "waiting under the array's concurrency limit (%N)"),
    ("Insufficient amount of resource: ncpus", "waiting for resources: not enough free cores"),
    ("Insufficient amount of resource: mem", "waiting for resources: not enough free memory"),
    ("Insufficient amount of resource: ngpus", "waiting for resources: not enough free GPUs"),
    ("Insufficient amount of", "waiting for resources (the nodes it needs are busy)"),
    ("running job limit", "you already run as many jobs as the queue or server allows"),
    ("would exceed", "waiting: it would exceed a limit of the queue, server or your account"),
    ("reservation or top job", "waiting: it would delay a higher-priority job's reservation"),
    ("is not started", "the queue is stopped: jobs wait until an administrator starts it"),
    ("Job would break strict sorted order", "waiting behind higher-priority jobs"),
]

_SUBMIT_ERRORS: list[tuple[str, str]] = [
    ("Unknown queue", "the queue does not exist: check `qstat -Q` for names"),
    ("Queue is not enabled", "the queue is closed to new jobs: choose another queue"),
    (
        "violates queue and/or server resource limits",
        "more cores, memory, GPUs or time than the queue allows: ask for less or choose "
        "another queue (`qstat -Qf QUEUE` shows its resources_max)",
    ),
    (
        "Unknown resource",
        "the server does not know a resource of the request (gpus= asks for ngpus): ask "
        "your admins for its name and pass it with extra=['-l select=...']",
    ),
    ("Invalid Account", "the account does not exist or you may not use it"),
    (
        "illegal -J value",
        "this PBS rejects the array range; its %N throttle needs PBS Professional 2021.1 or "
        "OpenPBS 22.05: map without max_concurrent= on older servers",
    ),
    (
        "Array job exceeds server or queue size limit",
        "the map has more tasks than the server's max_array_size: use chunksize=",
    ),
    ("Unauthorized Request", "PBS does not let you submit to this queue or server"),
]


def int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


# Exit_status values PBS Pro sets itself (JOB_EXEC_KILL_*), as reason codes.
PRO_EXIT_CODES = {-29: "walltime", -27: "mem", -26: "vmem", -28: "cput", -25: "ncpus", -24: "ncpus"}


def exit_reason(code: int | None, named: dict[int, str] = PRO_EXIT_CODES) -> str:
    """A reason code for how a finished job's exit status says it ended (``named``: the
    negative codes this PBS sets itself; both flavors add 256 to a killing signal)."""
    if code is None or code == 0:
        return ""
    if code in named:
        return named[code]
    if code > 256:
        return f"signal {code - 256}"
    return f"Exit_status {code}" if code < 0 else f"exit {code}"


def _codes(attrs: dict[str, object]) -> tuple[str, str]:
    """``(state code, reason code)`` of one job from its ``qstat -f -F json`` attributes."""
    state = str(attrs.get("job_state", ""))
    if state in ("F", "X"):
        substate, code = int_or_none(attrs.get("substate")), int_or_none(attrs.get("Exit_status"))
        if substate == 91:
            return f"{state}:terminated", "qdel"
        if code is None:  # deleted before it ran; by the server if a dependency failed
            return f"{state}:deleted", "dependency failed" if attrs.get("depend") else "deleted"
        return f"{state}:{'failed' if code else 'finished'}", exit_reason(code)
    if state == "H":
        holds = str(attrs.get("Hold_Types", ""))
        if attrs.get("depend") and ("s" in holds or int_or_none(attrs.get("substate")) == 22):
            return state, "dependency"
        for letter, hold in (("u", "user"), ("o", "operator"), ("p", "bad password")):
            if letter in holds:
                return state, f"{hold} hold"
        return state, "system hold"
    if state == "Q":
        comment = str(attrs.get("comment", ""))
        return state, comment if not comment.startswith("Job run at") and comment else "queued"
    if state in ("W", "T", "M"):
        return state, {"W": "execution time", "T": "transit", "M": "moved"}[state]
    if state in ("S", "U"):
        return state, "suspended"
    return state, ""


def _array_of(native: str) -> str:
    """``124[3].s -> 124[].s``: PBS Pro waits for whole arrays only."""
    m = _TASK_RE.match(native)
    return f"{m.group(1)}[]{m.group(3)}" if m else native


class PbsBackend(BatchBackend):
    """PBS Professional / OpenPBS; every job and subjob in one ``qstat -f -F json`` call."""

    kind = "pbs"
    STATE_MAP = STATE_MAP
    REASON_MAP = REASON_MAP
    CAUSE_MAP = CAUSE_MAP
    version_argv = ("qstat", "--version")
    task_var = "PBS_ARRAY_INDEX"

    def __init__(self, profile: Profile, transport: Transport) -> None:
        super().__init__(profile, transport)
        self._server: tuple[bool, int] | None = None  # (job history kept, max_array_size)

    # -- ids ----------------------------------------------------------------------------------
    def task_id(self, array_native_id: str, task: int) -> str:
        head, sep, tail = array_native_id.partition("[]")
        return f"{head}[{task}]{tail}" if sep else f"{array_native_id}[{task}]"

    def split_task_id(self, native: str) -> tuple[str, int] | None:
        m = _TASK_RE.match(native)
        return (f"{m.group(1)}[]{m.group(3)}", int(m.group(2))) if m else None

    def dependency_ids(self, targets: Sequence[DependencyTarget]) -> list[str]:
        """Each job or array once: ``afterok`` cannot name one subjob in PBS Pro."""
        out: list[str] = []
        for t in targets:
            if _array_of(t.native_id) not in out:
                out.append(_array_of(t.native_id))
        return out

    # -- the script ---------------------------------------------------------------------------
    def directives(self, spec: JobSpec) -> list[str]:
        r = spec.resources
        opts = [f"-N {lettered_token(spec.name)}"]
        if spec.array:
            n, limit = spec.array.tasks, spec.array.max_concurrent
            opts.append(f"-J {f'0-{n - 1}' if n > 1 else '0-1:2'}{f'%{limit}' if limit else ''}")
        opts += ["-o /dev/null", "-e /dev/null"]  # see preamble()
        opts += pbs_request.resource_options(r, self.profile.pbs_gpu_resource)
        if spec.after:
            bad = [n for n in spec.after if not ID_RE.match(n)]
            if bad:
                raise ResourceError(f"{bad[0]!r} is not a PBS job id to wait for")
            after = self.dependency_ids([DependencyTarget(n) for n in spec.after])
            opts.append(f"-W depend=afterok:{':'.join(after)}")
        opts.extend(pbs_request.extra_option(x) for x in r.extra)
        return [f"#PBS {opt}" for opt in opts]

    def preamble(self, spec: JobSpec) -> list[str]:
        """PBS copies -o/-e only at the end: write the job's output into the job dir live."""
        task = "$TASK" if spec.array else None
        out, err = jobdir.log_file(jobdir.STDOUT, task), jobdir.log_file(jobdir.STDERR, task)
        return [f'exec >"{out}" 2>"{err}"']

    # -- submit, query, cancel ----------------------------------------------------------------
    def submit_argv(self, script: str, spec: JobSpec) -> list[str]:
        return ["qsub", script]

    def parse_submit(self, stdout: str) -> str:
        native = stdout.strip().splitlines()[-1].strip() if stdout.strip() else ""
        if not ID_RE.match(native):
            raise TransportError(f"qsub printed no job id: {stdout!r}")
        return native

    def query_argv(self, native_ids: Sequence[str]) -> list[str]:
        ids = [n for n in native_ids if ID_RE.match(n)]
        if not ids:
            return ["true"]  # qstat without ids would list every job of the server
        history, _ = self._server_info()
        return ["qstat", "-f", "-F", "json", "-t", *(["-x"] if history else []), *ids]

    def parse_query(self, stdout: str, stderr: str, returncode: int) -> dict[str, tuple[str, str]]:
        problems = [ln for ln in stderr.splitlines() if ln.strip() and not _BENIGN.search(ln)]
        if "not configured to maintain job history" in stderr:
            self._server = (False, self.max_array_size())  # asked without -x from now on
            raise TransportError("qstat: this PBS server keeps no job history; asking again")
        if returncode != 0 and problems:
            raise TransportError(f"qstat failed: {stderr.strip() or stdout.strip()}")
        if not stdout.strip():
            return {}
        try:
            doc = json.loads(stdout, strict=False)
        except ValueError as exc:
            raise TransportError(
                f"qstat -F json printed something that is not JSON ({exc})"
            ) from None
        jobs = (doc.get("Jobs") or {}) if isinstance(doc, dict) else {}
        return {
            str(native): _codes(attrs) for native, attrs in jobs.items() if isinstance(attrs, dict)
        }

    def cancel_argv(self, native_ids: Sequence[str]) -> list[str]:
        return ["qdel", *[n for n in native_ids if ID_RE.match(n)]]

    def cancel_error_is_benign(self, stderr: str) -> bool:
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        return bool(lines) and all(_BENIGN.search(ln) for ln in lines)

    # -- sentences ----------------------------------------------------------------------------
    def reason(self, state_code: str, reason_code: str) -> str:
        if not reason_code:
            return ""
        if reason_code in self.REASON_MAP:
            return self.REASON_MAP[reason_code]
        kind, _, number = reason_code.partition(" ")
        if kind == "signal" and number.isdigit():
            try:
                name = f" ({signal.Signals(int(number)).name})"
            except ValueError:
                name = ""
            return (
                f"killed by signal {number}{name}: by the node's out-of-memory killer (ask for "
                "more memory), an administrator or PBS"
            )
        if kind == "exit" and number.isdigit():
            return f"its job script exited with status {number} (see job.stderr())"
        if kind == "Exit_status":
            return (
                f"PBS could not run it on its node (Exit_status {number}): ask your admins "
                "(`tracejob JOBID` shows why)"
            )
        detail = reason_code.split(": ", 1)[1] if ": " in reason_code else reason_code
        if reason_code.startswith("Can Never Run"):
            return f"can never run as requested: {detail}. Ask for less or choose another queue"
        for needle, sentence in _COMMENTS:
            if needle in reason_code:
                return f"{sentence} ({detail})"
        return f"PBS says: {detail}"

    def explain_submit_error(self, stderr: str) -> str:
        for needle, sentence in _SUBMIT_ERRORS:
            if needle.lower() in stderr.lower():
                return f"{sentence} (qsub: {stderr.strip().splitlines()[-1]})"
        return stderr.strip() or "qsub failed without a message"

    # -- limits -------------------------------------------------------------------------------
    def max_array_size(self) -> int:
        """The server's ``max_array_size`` (subjobs per array), asked once."""
        return self._server_info()[1]

    def _server_info(self) -> tuple[bool, int]:
        """Whether the server keeps finished jobs (``qstat -x``) and its array size limit,
        from one ``qstat -B -f -F json``; without an answer: no history, the default size."""
        if self._server is None:
            history, size = False, SERVER_DEFAULT_ARRAY_SIZE
            res = self.transport.run(["qstat", "-B", "-f", "-F", "json"])
            try:
                doc = json.loads(res.out, strict=False) if res.returncode == 0 else {}
            except ValueError:
                doc = {}
            for attrs in (doc.get("Server") or {}).values() if isinstance(doc, dict) else []:
                history = str(attrs.get("job_history_enable", "")).lower() == "true"
                size = int_or_none(attrs.get("max_array_size")) or size
            self._server = (history, size)
        return self._server
