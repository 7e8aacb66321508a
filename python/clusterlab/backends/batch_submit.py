"""Many jobs staged and submitted in one round trip (what :mod:`clusterlab.core.batcher`
hands a command-line scheduler).

One tar stream carries every job's directory (the runner once, hard-linked into the
others: a thousand copies of it would be most of the bytes) and, in each directory, the
job's submit command as NUL-separated words (``.submit.argv``). A constant ``sh`` script
unpacks it and runs each command with ``xargs -0 sh -c 'exec "$@"'`` inside its job dir,
so no value is ever parsed by a shell. As with one job, the scheduler's answer is kept as
``submitted`` in the job dir (how a job of a dead kernel is found again), and each job's
outcome comes back on its own: one refused job does not fail the others.
"""

from __future__ import annotations

import io
import re
import secrets
import tarfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..common import jobdir
from ..common.errors import SubmitError

if TYPE_CHECKING:
    from .base import BatchBackend, JobSpec

ARGV_FILE = ".submit.argv"
LIST_PREFIX = ".batch-"

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


def batch_tar(jobs: Sequence[tuple[str, Mapping[str, bytes], list[str]]], list_name: str) -> bytes:
    """``(dir name, files, submit argv)`` per job, as one tar relative to the jobs root.

    A file whose bytes are the runner's is written once and hard-linked afterwards.
    """
    buf = io.BytesIO()
    first_runner = ""
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
                elif fname == jobdir.RUNNER and first_runner:
                    link = tarfile.TarInfo(path)
                    link.type, link.linkname, link.mode = tarfile.LNKTYPE, first_runner, 0o600
                    tar.addfile(link)
                else:
                    _add(tar, path, data, 0o700 if fname == "job.sh" else 0o600)
                    if fname == jobdir.RUNNER:
                        first_runner = path
            _add(tar, f"{name}/{ARGV_FILE}", b"\0".join(a.encode() for a in argv), 0o600)
        listing = "".join(f"{name}\n" for name, _, _ in jobs).encode()
        _add(tar, list_name, listing, 0o600)
    return buf.getvalue()


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
    from .base import STAGE_FAILED

    root = jobs[0][0].job_dir.rsplit("/", 1)[0]
    entries = []
    for spec, files in jobs:
        parent, _, name = spec.job_dir.rpartition("/")
        if parent != root or not name or "\n" in name or name.startswith("."):
            raise ValueError(f"{spec.job_dir} is not a job dir under {root}")
        staged = {**files, "job.sh": backend.job_script(spec).encode()}
        entries.append((name, staged, backend.submit_argv("job.sh", spec)))
    marker = f"--clusterlab-{secrets.token_hex(8)}--"
    list_name = f"{LIST_PREFIX}{secrets.token_hex(6)}"
    par = str(PARALLEL if len(entries) >= PARALLEL_FROM else 1)
    res = backend.transport.script(
        _STAGE_MANY, root, list_name, marker, par, stdin=batch_tar(entries, list_name)
    )
    label = backend.transport.label
    if res.returncode == STAGE_FAILED:
        error = SubmitError(
            f"could not create the job directories under {root} on {label}: "
            f"{res.err.strip()}. Check the profile's remote_dir (free space, permissions)."
        )
        return [error] * len(jobs)
    results: list[str | BaseException] = []
    for (spec, _), outcome in zip(jobs, _outcomes(res.stdout, marker, len(jobs)), strict=True):
        if outcome is None:
            results.append(
                SubmitError(
                    f"{backend.kind}: the submission of {spec.job_id} on {label} ended "
                    f"before the scheduler answered ({res.err.strip() or res.returncode}): "
                    "submit it again"
                )
            )
        elif outcome[0] == STAGE_FAILED:
            results.append(
                SubmitError(
                    f"could not create the job directory {spec.job_dir} on {label}: "
                    f"{outcome[2].strip()}. Check the profile's remote_dir (free space, "
                    "permissions)."
                )
            )
        elif outcome[0] != 0:
            reason = backend.explain_submit_error(outcome[2])
            results.append(SubmitError(f"{backend.kind} refused the job: {reason}"))
        else:
            try:
                results.append(backend.parse_submit(outcome[1]))
            except BaseException as exc:  # the sentence of a single submission
                results.append(exc)
    return results
