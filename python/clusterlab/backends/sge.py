"""Grid Engine (Son of Grid Engine 8.1 and the Sun/Oracle/Open Grid Scheduler lineage):
qsub, qstat, qacct, qdel. Header lines, argv builders, parsers and maps, and what Grid
Engine needs beyond them:

- Commands need ``$SGE_ROOT/$SGE_CELL/common/settings.sh``, which a login shell reads and
  a command over SSH does not (Debian's ``/usr/bin`` wrappers then silently use the default
  cell): with the profile's ``sge_settings`` every command sources it first.
- Task ids start at 1 (``-t 1-N``): clusterlab's task T is Grid Engine's T+1 (``123.4`` is
  task 3), and the script turns ``$SGE_TASK_ID`` back into T.
- ``-hold_jid`` waits for jobs to *end*, successful or not, and names whole arrays. So each
  job leaves a mark in its job dir when it succeeds (an EXIT trap) and a dependent checks
  the marks of what it waits for before it runs; when one is missing it records so and
  stops, and it is reported CANCELLED ("dependency failed"), as SLURM's afterok would.
  (``-hold_jid_ad`` pairs task i with task i: clusterlab never asks for that.)
- Finished jobs leave qstat at once: the status file settles them, and ``qacct`` says how a
  job ended that could not say so itself (failed 37: a limit such as h_rt; 100: killed).
- ``h_vmem`` limits address space, per slot: ``memory=`` becomes h_vmem = (memory + 1 GiB)
  / cores, the GiB for what Python maps without using (thread stacks, malloc arenas).
- ``requeue=True``: ``-r y`` and a soft limit ``s_rt`` before ``h_rt``; Grid Engine sends
  USR1 to every process of the job at ``s_rt``, and the runner ends the run with exit code
  99 (the job waits as ``Rq``, then runs again with the same id).
- Exit codes 99 (rerun) and 100 (error state) are orders to Grid Engine: a job's own 99 or
  100 leaves its script as 1 (99 passes only after the runner noted a requeue).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence

from ..common import jobdir
from ..common.errors import ResourceError, TransportError
from ..common.states import Cause
from ..config.profile import Profile
from ..config.resources import Resources
from ..transports.base import Transport
from .base import DependencyTarget, JobSpec, Observation, WatchTarget
from .batch import BatchBackend
from .script import lettered_token
from .sge_output import (
    CAUSE_MAP,
    REASON_MAP,
    STATE_MAP,
    explain_submit_error,
    parse_qacct,
    parse_qstat,
    sentence,
)
from .sge_script import (
    GUARD_EVENT,
    extra_option,
    guard_lines,
    hms,
    mark_name,
    warning_at,
)

HEADROOM_MB = 1024  # address space Python maps beyond what it uses (see the module doc)
RERUN_EXIT = 99  # a rerunnable job that exits with it is queued again by Grid Engine
HISTORY_EVERY = 5.0  # seconds between two qacct questions about the same job
_ID_RE = re.compile(r"^\d+\Z")
_TASK_RE = re.compile(r"^(\d+)\.(\d+)\Z")
_SUBMIT_RE = re.compile(r"^(\d+)(?:\.\d+-\d+:\d+)?\Z")
_QDEL_FINE = re.compile(r"does not exist|has registered the job|has deleted job|for deletion")
# Sources the settings file ($1, "~/" allowed), then runs the command.
_SOURCE = (
    'f=$1; shift; case $f in "~/"*) f="$HOME/${f#??}" ;; esac; '
    'if [ ! -r "$f" ]; then echo "clusterlab: cannot read the Grid Engine settings file '
    "$f (the profile's sge_settings)\" >&2; exit 127; fi; "
    '. "$f" >/dev/null; exec "$@"'
)
_QSTAT = 'exec qstat -xml -r -u "$(id -un)"'  # every job of the user, pending reasons too
_DESCRIBE = 'qstat -help | head -n 1; qstat -u "$(id -un)" >/dev/null'  # the last reaches qmaster
_QACCT = 'for j do qacct -j "$j" 2>/dev/null; done; exit 0'
_LIMITS = "qconf -sconf 2>/dev/null | grep '^max_aj_tasks'; qstat -g c 2>/dev/null; exit 0"


def _guard_failed(status: bytes | None) -> bool:
    """Whether a status file holds the guard's line (its dependency did not succeed)."""
    for line in (status or b"").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == GUARD_EVENT:
            return True
    return False


class SgeBackend(BatchBackend):
    """Grid Engine; every job and task of the user in one ``qstat -xml -r`` call."""

    kind = "sge"
    STATE_MAP = STATE_MAP
    REASON_MAP = REASON_MAP
    CAUSE_MAP = CAUSE_MAP
    version_argv = ("qstat", "-help")
    task_var = "SGE_TASK_ID"

    def __init__(self, profile: Profile, transport: Transport) -> None:
        super().__init__(profile, transport)
        self._marks: dict[str, str] = {}  # dependency id -> the mark its success leaves
        self._throttles: dict[str, int] = {}  # arrays submitted with -tc
        self._limits: tuple[int, dict[str, int]] | None = None  # max_aj_tasks, slots/queue
        self._asked: dict[str, float] = {}  # job id -> when qacct was last asked about it

    def scheduler_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run after sourcing the profile's settings file, if it names one."""
        settings = self.profile.sge_settings
        return ["sh", "-c", _SOURCE, "sh", settings, *argv] if settings else list(argv)

    # -- ids ----------------------------------------------------------------------------------
    def task_id(self, array_native_id: str, task: int) -> str:
        return f"{array_native_id}.{task + 1}"

    def split_task_id(self, native: str) -> tuple[str, int] | None:
        m = _TASK_RE.match(native)
        return (m.group(1), int(m.group(2)) - 1) if m and int(m.group(2)) > 0 else None

    def dependency_ids(self, targets: Sequence[DependencyTarget]) -> list[str]:
        """Jobs and single tasks (``-hold_jid`` then names their arrays); where each one
        leaves its success mark is remembered for the guard of :meth:`preamble`."""
        out: list[str] = []
        for t in targets:
            native = t.native_id if t.task is None else self.task_id(t.native_id, t.task)
            if t.job_dir:
                self._marks[native] = f"{t.job_dir}/{mark_name(t.task)}"
            if native not in out:
                out.append(native)
        return out

    # -- the script ---------------------------------------------------------------------------
    def directives(self, spec: JobSpec) -> list[str]:
        r = spec.resources
        gpu_name = self.profile.sge_gpu_resource
        if r.gpus and not gpu_name:  # a count: the registry refuses types, nodes, qos...
            raise ResourceError(
                f"the 'sge' scheduler cannot take gpus={r.gpus}: Grid Engine has no standard "
                "GPU resource; sites name their own (often -l gpu=N, or a GPU queue): set the "
                "profile's sge_gpu_resource to its name (`qconf -sc` lists it), or pass it "
                "with extra=['-l gpu=1'] or queue='gpu.q', leaving gpus out"
            )
        # -w e: a request no queue could ever run is refused now, not left waiting
        opts = [f"-N {lettered_token(spec.name)}", "-S /bin/sh", "-cwd", "-w e"]
        if spec.array:
            opts.append(f"-t 1-{spec.array.tasks}")
            if spec.array.max_concurrent:
                opts.append(f"-tc {spec.array.max_concurrent}")
            opts += ["-o /dev/null", "-e /dev/null"]  # per-task files: see preamble()
        else:
            opts += [f"-o {jobdir.STDOUT}", f"-e {jobdir.STDERR}"]
        slots = (r.cores or 1) * r.task_count  # tasks=N: every task's cores, one host
        if slots > 1:
            opts.append(f"-pe {self.profile.sge_pe} {slots}")
        if r.memory_mb:  # h_vmem is per slot
            opts.append(f"-l h_vmem={math.ceil((r.memory_mb + HEADROOM_MB) / slots)}M")
        if r.time_s:
            opts.append(f"-l h_rt={hms(r.time_s)}")
        if spec.requeue_grace:
            # rerunnable (exit 99 and a lost host rerun it); USR1 at s_rt warns the runner
            opts.append("-r y")
            if r.time_s:
                opts.append(f"-l s_rt={hms(warning_at(r.time_s, spec.requeue_grace))}")
        if r.gpus:  # the site's consumable, as the profile names it
            opts.append(f"-l {gpu_name}={r.gpus}")
        if r.partition:
            opts.append(f"-q {r.partition}")
        if r.account:
            opts.append(f"-A {r.account}")
        if spec.after:
            opts.append(f"-hold_jid {','.join(self._holds(spec.after))}")
        opts.extend(extra_option(x) for x in r.extra)
        return [f"#$ {opt}" for opt in opts]

    def _holds(self, after: Sequence[str]) -> list[str]:
        out: list[str] = []
        for native in after:
            m = _TASK_RE.match(native)
            if not (m or _ID_RE.match(native)):
                raise ResourceError(f"{native!r} is not a Grid Engine job id to wait for")
            whole = m.group(1) if m else native
            if whole not in out:
                out.append(whole)
        return out

    def preamble(self, spec: JobSpec) -> list[str]:
        lines: list[str] = []
        if spec.array:
            out, err = (jobdir.log_file(s, "$TASK") for s in (jobdir.STDOUT, jobdir.STDERR))
            lines += [
                "# Grid Engine numbers tasks from 1 (qsub -t 1-N), clusterlab from 0",
                "TASK=$((TASK - 1))",
                f'STATUS="{jobdir.status_file("$TASK")}"',
                f'exec >"{out}" 2>"{err}"',
            ]
        if spec.after:
            lines += guard_lines(spec.after, self._marks)
        mark = f'"$JOB_DIR/{mark_name("$TASK" if spec.array else None)}"'
        orders, why = "case $code in 99|100) exit 1 ;; esac", []
        if spec.requeue_grace:  # 99 stays an order when the runner noted a requeue
            why = ["# (99 stays one when the runner ended this run to be requeued)"]
            orders = (
                'case $code in 99) tail -n 3 "$STATUS" | grep -q "\\"event\\": \\"requeue\\"" '
                "&& exit 99; exit 1 ;; 100) exit 1 ;; esac"
            )
        return [
            *lines,
            "# -hold_jid waits for jobs to end, not to succeed: a job that succeeds says so",
            "# here; 99 and 100 would be orders to Grid Engine (rerun, error state)",
            *why,
            f"rm -f -- {mark}",
            f"trap 'code=$?; [ \"$code\" -eq 0 ] && : >{mark}; {orders}' EXIT",
        ]

    # -- requeue=True ---------------------------------------------------------------------------
    def requeue_exit_code(self) -> int:
        """99: a rerunnable job (``-r y``) that exits with it is queued again, the same
        job id, every time (tried on the sandbox cell). ``qmod -rj`` from inside the job
        is not used: it only marks the job, and a run that ended before the execution
        daemon acted on the mark was sometimes not run again at all."""
        return RERUN_EXIT

    def warning_signal(self) -> str:
        return "USR1"  # what Grid Engine sends every process of the job at s_rt

    def warns_shell_only(self) -> bool:
        return False  # s_rt's USR1 reaches the runner itself

    # -- submit, query, cancel ----------------------------------------------------------------
    def submit_argv(self, script: str, spec: JobSpec) -> list[str]:
        return self.scheduler_argv(["qsub", "-terse", script])

    def parse_submit(self, stdout: str) -> str:
        # -terse: "5" for a job, "5.1-4:1" for an array
        m = _SUBMIT_RE.match(stdout.strip().splitlines()[-1].strip() if stdout.strip() else "")
        if not m:
            raise TransportError(f"qsub printed no job id: {stdout!r}")
        return m.group(1)

    def submit(self, spec: JobSpec, files: Mapping[str, bytes]) -> str:
        native = super().submit(spec, files)
        if spec.array and spec.array.max_concurrent:
            self._throttles[native] = spec.array.max_concurrent
        return native

    def query_argv(self, native_ids: Sequence[str]) -> list[str]:
        return self.scheduler_argv(["sh", "-c", _QSTAT])

    def history_argv(self, native_ids: Sequence[str]) -> list[str] | None:
        """``qacct -j`` for jobs gone from qstat without a final status line, each at most
        every HISTORY_EVERY seconds: qacct reads the whole accounting file, which on a
        busy cluster is large, and has the job only once Grid Engine flushed it."""
        now = time.monotonic()
        self._asked = {n: t for n, t in self._asked.items() if now - t < 3600}
        ids = [
            n
            for n in native_ids
            if _ID_RE.match(n) and now - self._asked.get(n, -HISTORY_EVERY) >= HISTORY_EVERY
        ]
        self._asked.update(dict.fromkeys(ids, now))
        return self.scheduler_argv(["sh", "-c", _QACCT, "sh", *ids]) if ids else None

    def parse_query(self, stdout: str, stderr: str, returncode: int) -> dict[str, tuple[str, str]]:
        if returncode != 0:
            raise TransportError(f"qstat failed: {stderr.strip() or stdout.strip()}")
        text = stdout.lstrip()
        if text.startswith("<"):
            return parse_qstat(text, self._throttles)
        return parse_qacct(text)  # history_argv's answer

    def poll(self, targets: Sequence[WatchTarget]) -> dict[str, Observation]:
        out = super().poll(targets)
        self.annotate(out)
        return out

    def annotate(self, observations: Mapping[str, Observation]) -> None:
        """The guard's word: a job whose dependency did not succeed stopped before running
        (see :meth:`_guard`); Grid Engine itself only saw it end."""
        for obs in observations.values():
            for seen in (obs, *obs.tasks.values()):
                if _guard_failed(seen.status):
                    seen.cause = Cause.DEPENDENCY_NEVER_SATISFIED
                    seen.reason = REASON_MAP["dependency failed"]

    def cancel_argv(self, native_ids: Sequence[str]) -> list[str]:
        valid = [n for n in native_ids if _ID_RE.match(n) or _TASK_RE.match(n)]
        return self.scheduler_argv(["qdel", *valid])

    def cancel(self, targets: Sequence[WatchTarget]) -> None:
        """qdel says on stdout that a job no longer exists: that is nothing left to cancel."""
        argv = self.cancel_argv([t.native_id for t in targets])
        if argv[-1] == "qdel":
            return
        res = self.transport.run(argv)
        lines = [ln for ln in (res.out + "\n" + res.err).splitlines() if ln.strip()]
        problems = [ln for ln in lines if not _QDEL_FINE.search(ln)]
        if res.returncode != 0 and (problems or not lines):
            raise TransportError(f"sge: qdel failed: {' '.join(problems) or res.returncode}")

    def describe(self) -> str:
        """The version, once qstat has reached a qmaster: Debian's wrappers answer
        ``-help`` even when they talk to a cell that does not run."""
        res = self.transport.run(self.scheduler_argv(["sh", "-c", _DESCRIBE]))
        first = res.out.strip().splitlines()[0] if res.out.strip() else ""
        if res.returncode != 0 or "usage" in first.lower() or not first:
            said = " ".join(ln.strip() for ln in res.err.splitlines() if ln.strip())
            raise TransportError(
                f"Grid Engine's qstat does not work on {self.transport.label} "
                f"({said[:300] or first or res.returncode}): is this a Grid Engine login "
                "node? If qstat is not found or reaches no qmaster, set the profile's "
                "sge_settings to $SGE_ROOT/$SGE_CELL/common/settings.sh, the file your "
                "login shell reads."
            )
        return first

    # -- sentences ----------------------------------------------------------------------------
    def reason(self, state_code: str, reason_code: str) -> str:
        return sentence(reason_code)

    def explain_submit_error(self, stderr: str) -> str:
        return explain_submit_error(stderr)

    # -- limits -------------------------------------------------------------------------------
    def max_array_size(self) -> int:
        """``max_aj_tasks`` of the global configuration (0: no limit), asked once."""
        return self._read_limits()[0]

    def capacity(self, resources: Resources) -> int:
        """Tasks of this size the queue(s) hold at once (used + available slots)."""
        slots = self._read_limits()[1]
        wanted = {q.split("@")[0] for q in (resources.partition or "").split(",") if q}
        total = sum(n for q, n in slots.items() if not wanted or q in wanted)
        return total // max(1, resources.cores or 1)

    def _read_limits(self) -> tuple[int, dict[str, int]]:
        if self._limits is None:
            res = self.transport.run(self.scheduler_argv(["sh", "-c", _LIMITS]))
            size, slots = 75000, {}  # Grid Engine's default max_aj_tasks
            for line in res.out.splitlines():
                parts = line.split()
                if parts[:1] == ["max_aj_tasks"] and parts[1:2] and parts[1].isdigit():
                    size = int(parts[1]) or 1_000_000
                elif len(parts) >= 7 and all(p.isdigit() for p in parts[2:6]):
                    slots[parts[0]] = int(parts[2]) + int(parts[4])  # USED + AVAIL
            self._limits = (size, slots)
        return self._limits
