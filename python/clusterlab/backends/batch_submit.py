"""Many jobs staged and submitted in one round trip (what :mod:`clusterlab.core.submission.batcher`
hands a command-line scheduler).

One tar stream carries every job's directory (the runner once, hard-linked into the
others: a thousand copies of it would be most of the bytes) and, in each directory, the
job's submit command as NUL-separated words (``.submit.argv``). A constant ``sh`` script
unpacks it and runs each command with ``xargs -0 sh -c 'exec "$@"'`` inside its job dir,
so no value is ever parsed by a shell. As with one job, the scheduler's answer is kept as
``submitted`` in the job dir (how a job of a dead kernel is found again), and each job's
outcome comes back on its own: one refused job does not fail the others.

Alike jobs become one array. The scheduler's cost is per submit command (on SLURM about
6 ms each on 2 cores, so a loop of 1,000 ``submit()`` calls waited seconds for ``sbatch``),
so jobs of a batch that the backend says are alike (:meth:`Backend.coalesce_key`: same
header lines, no dependency, no array of their own) are submitted as the tasks of one
native array: a submission dir ``.array-<token>/`` holds a link ``i -> ../<job dir>`` per
task, the array's outputs are ``%a/stdout`` there (so each lands in its job's dir), and
task ``i`` runs ``i/job.sh``, the job's own script. Each job keeps its dir, its ledger row,
its ``cancel()`` (one task) and its reattach; only its scheduler id reads ``<array>_<i>``
(written to its ``submitted`` file by the same script). ``CLUSTERLAB_COALESCE=0`` submits
every job on its own.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..common import jobdir
from ..common.errors import SubmitError
from .base import STAGE_FAILED, JobSpec

if TYPE_CHECKING:
    from .batch import BatchBackend

ARGV_FILE = ".submit.argv"
LIST_PREFIX = ".batch-"
ARRAY_PREFIX = ".array-"  # submission dir of alike jobs sent as one array
MEMBERS_FILE = ".members"  # in it: the job dir of task i on line i + 1
COALESCE_FROM = 2  # alike jobs in a batch from which they are one array
DISABLE_VAR = "CLUSTERLAB_COALESCE"  # "0": every job is submitted on its own

# $1 the jobs root, $2 the list of job dir names (inside the tar), $3 the output marker,
# $4 how many submit commands run at once (each worker takes every $4-th job).
_STAGE_MANY = r"""
umask 077
root=$1; list=$2; mark=$3; par=$4
mkdir -p -- "$root" && tar -x -f - -C "$root" || exit 97
submit_one() {
  if cd -- "$root/$name" 2>/dev/null; then
    xargs -0 sh -c 'exec "$@"' sh < .submit.argv > .submitted.tmp 2> .submit.err
    code=$?
    printf '%s %s %s\n' "$mark" "$i" "$code"
    cat .submitted.tmp
    printf '\n%s err\n' "$mark"
    cat .submit.err
    rm -f .submit.err .submit.argv
    if [ "$code" -eq 0 ]; then mv -f .submitted.tmp submitted; else rm -f .submitted.tmp; fi
    if [ "$code" -eq 0 ] && [ -f .members ]; then
      # an array of alike jobs: each job dir keeps its own task's id, as a job's would
      id=$(tail -n 1 submitted); id=${id%%;*}
      case $id in ''|*[!0-9]*) ;; *)
        t=0
        while IFS= read -r m; do
          printf '%s_%s\n' "$id" "$t" > "$root/$m/submitted"; t=$((t + 1))
        done < .members ;;
      esac
    fi
  else
    printf '%s %s 97\n\n%s err\ncannot enter %s\n' "$mark" "$i" "$mark" "$root/$name"
  fi
}
w=0
while [ "$w" -lt "$par" ]; do
  (
    i=0
    while IFS= read -r name; do
      if [ $((i % par)) -eq "$w" ]; then submit_one; fi
      i=$((i + 1))
    done < "$root/$list" > "$root/$list.out.$w"
  ) &
  w=$((w + 1))
done
wait
w=0
while [ "$w" -lt "$par" ]; do
  cat "$root/$list.out.$w"; rm -f -- "$root/$list.out.$w"
  w=$((w + 1))
done
rm -f -- "$root/$list"
"""
PARALLEL = 4  # submit commands at once: the scheduler's own cost per job dominates
PARALLEL_FROM = 16  # jobs in a batch from which they are submitted in parallel


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def batch_tar(
    jobs: Sequence[tuple[str, Mapping[str, bytes], list[str] | None]],
    list_name: str,
    links: Mapping[str, str] | None = None,
) -> bytes:
    """``(dir name, files, submit argv)`` per dir, as one tar relative to the jobs root;
    the dirs with an argv are the list the script submits from, in order. ``links``:
    symbolic links (path -> target) added after the dirs.

    The runner's files (``jobdir.RUNNER_FILES``) are written once and hard-linked afterwards.
    """
    buf = io.BytesIO()
    first_runner: dict[str, str] = {}  # runner file -> the first job's copy in the tar
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, files, argv in jobs:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o700
            tar.addfile(info)
            for fname, data in files.items():
                path = f"{name}/{fname.rstrip('/')}"
                if fname.endswith("/"):
                    sub = tarfile.TarInfo(path)
                    sub.type, sub.mode = tarfile.DIRTYPE, 0o700
                    tar.addfile(sub)
                elif fname in jobdir.RUNNER_FILES and fname in first_runner:
                    link = tarfile.TarInfo(path)
                    link.type, link.linkname = tarfile.LNKTYPE, first_runner[fname]
                    link.mode = 0o600
                    tar.addfile(link)
                else:
                    _add(tar, path, data, 0o700 if fname == "job.sh" else 0o600)
                    if fname in jobdir.RUNNER_FILES:
                        first_runner[fname] = path
            if argv is not None:
                _add(tar, f"{name}/{ARGV_FILE}", b"\0".join(a.encode() for a in argv), 0o600)
        for path, target in (links or {}).items():
            link = tarfile.TarInfo(path)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tar.addfile(link)
        listing = "".join(f"{name}\n" for name, _, argv in jobs if argv is not None).encode()
        _add(tar, list_name, listing, 0o600)
    return buf.getvalue()


# The submission dirs of arrays of alike jobs whose every job dir is gone (cleaned up,
# collected by gc) and that are over a day old (never one being staged right now).
_GC_ARRAYS = r"""
find "$1" -maxdepth 1 -type d -name '.array-*' -mtime +0 | while IFS= read -r a; do
  live=0
  for link in "$a"/[0-9]*; do
    if [ -e "$link" ]; then live=1; break; fi
  done
  if [ "$live" -eq 0 ]; then rm -rf -- "$a"; printf '%s\n' "$a"; fi
done
"""


def remove_spent_arrays(backend: BatchBackend, jobs_root: str) -> list[str]:
    """Remove the ``.array-*`` submission dirs whose jobs are all gone (what
    ``cl.jobs.gc()`` calls after removing job dirs); the removed paths."""
    res = backend.transport.script(_GC_ARRAYS, jobs_root)
    return [line for line in res.out.splitlines() if line.strip()]


@dataclass
class _Entry:
    """One submit command of a batch: a job's own, or one array for alike jobs."""

    name: str  # the dir (under the jobs root) it runs in
    members: list[int]  # indexes of the jobs it submits (an array's, in task order)
    files: dict[str, bytes] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    array: bool = False


def _coalescing(backend: BatchBackend) -> bool:
    return os.environ.get(DISABLE_VAR, "1") != "0" and backend.task_id("1", 0) == "1_0"


def _plan(backend: BatchBackend, specs: Sequence[JobSpec]) -> list[_Entry]:
    """Which submit commands the batch needs: alike jobs (at least :data:`COALESCE_FROM`,
    at most the scheduler's array size) as arrays, the others one by one, in the order of
    their first job."""
    on = _coalescing(backend)
    keys = [backend.coalesce_key(s) if on else None for s in specs]
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, key in enumerate(keys):
        if key is not None:
            groups.setdefault(key, []).append(i)
    limit = 0
    if any(len(g) >= COALESCE_FROM for g in groups.values()):
        try:
            limit = backend.max_array_size()
        except Exception:  # the limit unknown: submit them one by one, as before
            limit = 0
    chunks: dict[int, list[int]] = {}  # first job of an array -> its jobs
    for members in groups.values():
        for start in range(0, len(members), max(limit, 1)):
            chunk = members[start : start + limit]
            if limit >= COALESCE_FROM and len(chunk) >= COALESCE_FROM:
                chunks[chunk[0]] = chunk
    in_array = {i for chunk in chunks.values() for i in chunk}
    entries: list[_Entry] = []
    for i, spec in enumerate(specs):
        if i in chunks:
            key = keys[i]
            assert key is not None
            entries.append(_array_entry(backend, key, chunks[i], specs))
        elif i not in in_array:
            entries.append(_Entry(spec.job_dir.rpartition("/")[2], [i]))
    return entries


def _array_entry(
    backend: BatchBackend, key: tuple[str, ...], members: list[int], specs: Sequence[JobSpec]
) -> _Entry:
    """The submission dir of alike jobs: its array script and ``.members``."""
    names = [specs[i].job_dir.rpartition("/")[2] for i in members]
    header = backend.coalesced_header(key, len(members))
    script = "\n".join(
        [
            "#!/bin/sh",
            *header,
            f"# clusterlab: {len(members)} alike jobs as one array; task i runs the job",
            "# whose dir is linked as i here, with that job's own script",
            f'exec "./${{{backend.task_var}}}/job.sh"',
        ]
    )
    entry = _Entry(f"{ARRAY_PREFIX}{secrets.token_hex(6)}", members, array=True)
    entry.files = {
        "array.sh": f"{script}\n".encode(),
        MEMBERS_FILE: "".join(f"{n}\n" for n in names).encode(),
    }
    entry.argv = backend.submit_argv("array.sh", specs[members[0]])
    return entry


def _outcomes(stdout: bytes, marker: str, count: int) -> list[tuple[int, str, str] | None]:
    """``(exit code, stdout, stderr)`` of each job's submit command (None: not reached)."""
    out: list[tuple[int, str, str] | None] = [None] * count
    mark = re.escape(marker)
    pattern = re.compile(
        rf"{mark} (\d+) (-?\d+)\n(.*?)\n{mark} err\n(.*?)(?={mark} \d+ |\Z)", re.DOTALL
    )
    for m in pattern.finditer(stdout.decode("utf-8", "replace")):
        index = int(m.group(1))
        if index < count:
            out[index] = (int(m.group(2)), m.group(3), m.group(4))
    return out


def submit_batch(
    backend: BatchBackend, jobs: Sequence[tuple[JobSpec, Mapping[str, bytes]]]
) -> list[str | BaseException]:
    """Stage and submit ``jobs`` (all in one parent directory) in one round trip; per job
    its native id, or the exception :meth:`BatchBackend.submit` would have raised."""
    root = jobs[0][0].job_dir.rsplit("/", 1)[0]
    for spec, _ in jobs:
        parent, _, name = spec.job_dir.rpartition("/")
        if parent != root or not name or "\n" in name or name.startswith("."):
            raise ValueError(f"{spec.job_dir} is not a job dir under {root}")
    plan = _plan(backend, [spec for spec, _ in jobs])
    own = {e.members[0]: e for e in plan if not e.array}
    dirs: list[tuple[str, Mapping[str, bytes], list[str] | None]] = []
    for i, (spec, files) in enumerate(jobs):
        name = spec.job_dir.rpartition("/")[2]
        staged = {**files, "job.sh": backend.job_script(spec).encode()}
        dirs.append((name, staged, backend.submit_argv("job.sh", spec) if i in own else None))
    links: dict[str, str] = {}
    for entry in plan:
        if entry.array:
            dirs.append((entry.name, entry.files, entry.argv))
            for task, i in enumerate(entry.members):
                links[f"{entry.name}/{task}"] = f"../{jobs[i][0].job_dir.rpartition('/')[2]}"
    # the list is in the order of the dirs with an argv: the jobs' own, then the arrays
    order = [e for e in plan if not e.array] + [e for e in plan if e.array]
    marker = f"--clusterlab-{secrets.token_hex(8)}--"
    list_name = f"{LIST_PREFIX}{secrets.token_hex(6)}"
    par = str(PARALLEL if len(order) >= PARALLEL_FROM else 1)
    res = backend.transport.script(
        _STAGE_MANY, root, list_name, marker, par, stdin=batch_tar(dirs, list_name, links)
    )
    label = backend.transport.label
    if res.returncode == STAGE_FAILED:
        error = SubmitError(
            f"could not create the job directories under {root} on {label}: "
            f"{res.err.strip()}. Check the profile's remote_dir (free space, permissions)."
        )
        return [error] * len(jobs)
    results: list[str | BaseException] = [SubmitError("not submitted")] * len(jobs)
    for entry, outcome in zip(order, _outcomes(res.stdout, marker, len(order)), strict=True):
        spec = jobs[entry.members[0]][0]
        detail = res.err.strip() or str(res.returncode)
        answer = _answer(backend, spec, outcome, f"{root}/{entry.name}", detail)
        for task, i in enumerate(entry.members):
            if isinstance(answer, str) and entry.array:
                results[i] = backend.task_id(answer, task)
            else:
                results[i] = answer
    return results


def _answer(
    backend: BatchBackend,
    spec: JobSpec,
    outcome: tuple[int, str, str] | None,
    where: str,
    detail: str,
) -> str | BaseException:
    """The native id one submit command printed, or the exception a single submission
    would have raised (for an array: every one of its jobs gets it)."""
    label = backend.transport.label
    if outcome is None:
        return SubmitError(
            f"{backend.kind}: the submission of {spec.job_id} on {label} ended "
            f"before the scheduler answered ({detail}): submit it again"
        )
    if outcome[0] == STAGE_FAILED:
        return SubmitError(
            f"could not create the job directory {where} on {label}: "
            f"{outcome[2].strip()}. Check the profile's remote_dir (free space, permissions)."
        )
    if outcome[0] != 0:
        reason = backend.explain_submit_error(outcome[2])
        return SubmitError(f"{backend.kind} refused the job: {reason}")
    try:
        return backend.parse_submit(outcome[1])
    except BaseException as exc:  # the sentence of a single submission
        return exc
