"""TORQUE (and Moab/Maui sites on it): the PBS family's other dialect. Only what differs
from PBS Professional (:mod:`.pbs`) lives here; ids, cancel, output and sentences are
shared.

What TORQUE does differently, and how this module meets it:

- arrays are ``qsub -t 0-9%N`` (``%N``: the slot limit, TORQUE 2.5+) with subjobs
  ``123[3].server`` and ``PBS_ARRAYID`` in each; a one-task array is ``-t 0``. Subjobs
  over the slot limit are held with hold type ``l``.
- resources are ``-l nodes=N:ppn=C[:gpus=G]``, ``mem=`` (per job) and ``walltime=``.
- ``afterok:ID`` waits for a job, ``afterokarray:ID[]`` for a whole array; never one
  subjob, as with PBS Pro (whose whole-array ``dependency_ids`` are reused).
- ``qstat`` has no JSON: ``qstat -f -1`` prints ``Job Id: ID`` then ``attr = value`` lines
  (``-1``: no wrapped lines). Finished jobs stay as ``C`` for the server's
  ``keep_completed`` seconds, with ``exit_status``: -10 memory, -11 walltime, -12 CPU time
  (TORQUE 6), 256+N killed by signal N. Then they vanish and the status file settles them.
- ``qstat --version`` prints ``Version: 6.1.3`` (PBS Pro: ``pbs_version = ...``), which is
  how ``pbs_flavor = "auto"`` tells them apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..common.errors import ResourceError, TransportError
from ..common.states import Cause, JobState
from ..config.profile import Profile
from ..transports.base import Transport
from .base import DependencyTarget, JobSpec
from .batch import BatchBackend
from .pbs import (
    CAUSE_MAP,
    ID_RE,
    REASON_MAP,
    SERVER_DEFAULT_ARRAY_SIZE,
    PbsBackend,
    exit_reason,
    int_or_none,
)
from .pbs_request import extra_option, placement_options, tasks_per_node
from .script import lettered_token

# TORQUE's name limit is 15 characters in many installed versions (PBS_MAXJOBNAME).
_NAME_MAX = 15

TORQUE_STATE_MAP: dict[str, JobState] = {
    **dict.fromkeys("QHWTS", JobState.PENDING),
    **dict.fromkeys("RE", JobState.RUNNING),  # E: exiting
    "C:finished": JobState.COMPLETED,  # the status file decides how it ended
    "C:failed": JobState.FAILED,
    "C:deleted": JobState.CANCELLED,
}

TORQUE_CAUSE_MAP: dict[str, Cause] = {
    **CAUSE_MAP,
    "deleted": Cause.CANCELLED,  # a reason code: "C:deleted" may also be a failed dependency
}

TORQUE_REASON_MAP: dict[str, str] = {
    **REASON_MAP,
    "slot limit": "waiting under the array's concurrency limit (%N)",
    "deleted": "deleted (qdel) by you or an administrator",
}

# exit_status values TORQUE 6 sets itself (JOB_EXEC_OVERLIMIT_*), as reason codes.
TORQUE_EXIT_CODES = {-10: "mem", -11: "walltime", -12: "cput"}


def _codes(attrs: dict[str, str]) -> tuple[str, str]:
    """``(state code, reason code)`` of one job from its ``qstat -f -1`` attributes."""
    state = attrs.get("job_state", "")
    if state == "C":
        code = int_or_none(attrs.get("exit_status", "None"))
        if code is None:  # never ran: deleted, by the server when a dependency failed
            return "C:deleted", "dependency failed" if attrs.get("depend") else "deleted"
        return f"C:{'failed' if code else 'finished'}", exit_reason(code, TORQUE_EXIT_CODES)
    if state == "H":
        holds = attrs.get("Hold_Types", "")
        if "l" in holds:
            return state, "slot limit"
        if attrs.get("depend") and "s" in holds:
            return state, "dependency"
        for letter, hold in (("u", "user"), ("o", "operator")):
            if letter in holds:
                return state, f"{hold} hold"
        return state, "system hold"
    if state == "Q":
        comment = attrs.get("comment", "")
        return state, comment or "queued"
    if state in ("W", "T"):
        return state, {"W": "execution time", "T": "transit"}[state]
    if state == "S":
        return state, "suspended"
    return state, ""


def parse_qstat_f(text: str) -> dict[str, dict[str, str]]:
    """``qstat -f -1`` output: job id -> its attributes (values as printed)."""
    jobs: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("Job Id:"):
            current = jobs.setdefault(line.split(":", 1)[1].strip(), {})
        elif current is not None and " = " in line and line[:1].isspace():
            key, _, value = line.strip().partition(" = ")
            current[key] = value
    return jobs


class TorqueBackend(PbsBackend):
    """TORQUE; every job and subjob in one ``qstat -f -1 -t`` call."""

    STATE_MAP = TORQUE_STATE_MAP
    REASON_MAP = TORQUE_REASON_MAP
    CAUSE_MAP = TORQUE_CAUSE_MAP
    task_var = "PBS_ARRAYID"

    def directives(self, spec: JobSpec) -> list[str]:
        r = spec.resources
        opts = [f"-N {lettered_token(spec.name, _NAME_MAX)}"]
        if spec.array:
            n, limit = spec.array.tasks, spec.array.max_concurrent
            opts.append(f"-t {f'0-{n - 1}' if n > 1 else '0'}{f'%{limit}' if limit else ''}")
        opts += ["-o /dev/null", "-e /dev/null"]  # see PbsBackend.preamble()
        if r.cores or r.gpus or r.nodes or r.tasks:
            per_node = tasks_per_node(r, "TORQUE", "processors (ppn)")
            node = f"nodes={r.nodes or 1}:ppn={(r.cores or 1) * per_node}"
            opts.append(f"-l {node}{f':gpus={r.gpus}' if r.gpus else ''}")
        if r.memory_mb:
            opts.append(f"-l mem={r.memory_mb}mb")
        opts += placement_options(r, "TORQUE", "batch")
        if spec.after:
            bad = [n for n in spec.after if not ID_RE.match(n)]
            if bad:
                raise ResourceError(f"{bad[0]!r} is not a TORQUE job id to wait for")
            # afterok: for jobs, afterokarray: for (whole) arrays
            deps = self.dependency_ids([DependencyTarget(n) for n in spec.after])
            jobs = [d for d in deps if "[" not in d]
            arrays = [d for d in deps if "[" in d]
            kinds = [f"afterok:{':'.join(jobs)}"] if jobs else []
            kinds += [f"afterokarray:{':'.join(arrays)}"] if arrays else []
            opts.append(f"-W depend={','.join(kinds)}")
        opts.extend(_torque_extra(x) for x in r.extra)
        return [f"#PBS {opt}" for opt in opts]

    def query_argv(self, native_ids: Sequence[str]) -> list[str]:
        ids = [n for n in native_ids if ID_RE.match(n)]
        return ["qstat", "-f", "-1", "-t", *ids] if ids else ["true"]

    def parse_query(self, stdout: str, stderr: str, returncode: int) -> dict[str, tuple[str, str]]:
        problems = [ln for ln in stderr.splitlines() if ln.strip() and "Unknown Job Id" not in ln]
        if returncode != 0 and problems:
            raise TransportError(f"qstat failed: {stderr.strip() or stdout.strip()}")
        return {native: _codes(attrs) for native, attrs in parse_qstat_f(stdout).items()}

    def reason(self, state_code: str, reason_code: str) -> str:
        if reason_code == "walltime":
            return "killed after reaching its time limit (TORQUE exit_status -11)"
        return super().reason(state_code, reason_code)

    def _server_info(self) -> tuple[bool, int]:
        """TORQUE keeps finished jobs as ``C`` by itself (keep_completed) and has no ``-x``;
        its array limit is ``max_job_array_size`` in ``qstat -B -f -1``."""
        if self._server is None:
            size = 0
            res = self.transport.run(["qstat", "-B", "-f", "-1"])
            for line in res.out.splitlines() if res.returncode == 0 else []:
                key, _, value = line.strip().partition(" = ")
                if key == "max_job_array_size":
                    size = int_or_none(value) or 0
            self._server = (False, size or SERVER_DEFAULT_ARRAY_SIZE)
        return self._server


def _torque_extra(option: str) -> str:
    """A user's extra ``#PBS`` option; ``-t`` (arrays) is clusterlab's, as with PBS Pro."""
    if option == "-t" or option.startswith(("-t ", "-t=")) or re.match(r"^-t\d", option):
        raise ResourceError(
            f"extra={option!r} is not allowed with TORQUE: arrays come from .map() "
            "(max_concurrent= sets the %N slot limit)"
        )
    return extra_option(option)


def detect_flavor(transport: Transport) -> str:
    """'pro' or 'torque', from one ``qstat --version``; a sentence when neither answers."""
    res = transport.run(["qstat", "--version"])
    text = f"{res.out}\n{res.err}"
    if "pbs_version" in text:
        return "pro"
    if re.search(r"^\s*Version:\s*\d", text, re.MULTILINE):
        return "torque"
    raise TransportError(
        f"`qstat --version` on {transport.label} names neither PBS Professional nor TORQUE "
        f"({text.strip()[:120] or res.returncode}): set the profile's pbs_flavor to 'pro' or "
        "'torque'"
    )


def make_pbs_backend(profile: Profile, transport: Transport) -> BatchBackend:
    """The PBS family member the profile names (``pbs_flavor``), asked once when 'auto'."""
    flavor = profile.pbs_flavor
    if flavor == "auto":
        flavor = detect_flavor(transport)
    return (
        TorqueBackend(profile, transport) if flavor == "torque" else PbsBackend(profile, transport)
    )


def make_offline_pbs_backend(profile: Profile, transport: Transport) -> BatchBackend:
    """For a preview, which never connects: a remote ``auto`` profile is rendered as PBS
    Professional, and the backend says so (its flavor is asked at the first submission)."""
    if profile.pbs_flavor != "auto" or not profile.is_remote:
        return make_pbs_backend(profile, transport)
    backend = PbsBackend(profile, transport)
    backend.preview_note = (
        "pbs_flavor 'auto': shown as PBS Professional; TORQUE is asked for on use"
    )
    return backend
