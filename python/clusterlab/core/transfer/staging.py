"""What travels besides the call: the working dir, environment variables, input files in
and output files back (see :mod:`clusterlab.config.runopts` for the options).

Input files go through the content-addressed blob store (``<remote_dir>/blobs/<sha256>.file``,
uploaded once per content) and the job script copies them into the working dir. Outputs
(globs in the working dir) are listed with their sha256 by a small stdlib script after the
job ended, and only files that differ from what is already here are downloaded, before
the job's future resolves.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ...common import jobdir
from ...common import kinds as registry
from ...common.errors import SubmitError
from ...config.paths import data_dir
from ...config.profile import Profile
from ...config.runopts import RunOptions, input_target, profile_options

if TYPE_CHECKING:
    from ...transports.base import Transport
    from ..environment.remote import RemoteEnvironment
    from ..model.job import Job
    from .blobs import BlobStore


def jobs_root(profile: Profile, expand: Callable[[str], str]) -> str:
    """``<remote_dir>/jobs``, ``~`` expanded by ``expand``. Schedulers that run jobs on
    other machines default to ``~/.clusterlab`` (home is shared with compute nodes on
    clusters); one that only runs them here (``local``) to this machine's data dir."""
    remote_dir = profile.remote_dir
    if not remote_dir:
        elsewhere = registry.get(profile.scheduler).remote
        remote_dir = "~/.clusterlab" if elsewhere else str(data_dir())
    return expand(remote_dir).rstrip("/") + "/jobs"


class StagingHost(Protocol):
    """What staging needs of the runtime that submits: its profile, where files go
    (transport, blob store) and the Python that lists a job's outputs."""

    @property
    def profile(self) -> Profile: ...

    @property
    def transport(self) -> Transport: ...

    @property
    def blobs(self) -> BlobStore: ...

    @property
    def environment(self) -> RemoteEnvironment: ...


@dataclass
class Staged:
    """A call's options resolved against its runtime: what the job script needs."""

    options: RunOptions
    workdir: str  # expanded; "" means the job dir's work/
    env: dict[str, str]
    inputs: list[tuple[str, str]]  # (stored file on the cluster, path in the workdir)
    blobs: dict[str, bytes]  # to upload before submitting

    def workdir_of(self, job_dir: str) -> str:
        return self.workdir or f"{job_dir}/{jobdir.WORK}"


def resolve(runtime: StagingHost, call: RunOptions | None) -> Staged:
    """The profile's defaults with the call's options on top, checked and expanded (no
    upload yet: a call that cannot be pickled still fails before anything is sent)."""
    options = profile_options(runtime.profile).merged(call or RunOptions()).with_cwd()
    workdir = runtime.transport.expand(options.workdir) if options.workdir else ""
    if workdir:
        root = jobs_root(runtime.profile, runtime.transport.expand)
        base = root.rsplit("/", 1)[0].rstrip("/")
        if workdir.rstrip("/") == base or workdir.startswith(base + "/"):
            raise SubmitError(
                f"workdir {workdir!r} is inside clusterlab's own directory {base}: user code "
                "never runs among job files. Choose a project directory elsewhere."
            )
    inputs: list[tuple[str, str]] = []
    blobs: dict[str, bytes] = {}
    for path in options.files:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise SubmitError(f"cannot read {path!r} to upload it (files=): {exc}") from None
        name = hashlib.sha256(data).hexdigest() + ".file"
        blobs[name] = data
        inputs.append((f"{runtime.blobs.root}/{name}", input_target(path)))
    return Staged(options, workdir, dict(options.env), inputs, blobs)


# Lists files matching globs ($2...) under a directory ($1) as JSON: "files" [name, size,
# sha256, source] and "refused" [name, why]. A symbolic link to a file inside the directory
# is listed under its own name with the file it points to as the source (what is read);
# one that leads out of the directory (or nowhere) is refused, never followed: what comes
# back is what the job left in its directory, and one odd name never fails the others.
_LIST_OUTPUTS = r"""
import glob, hashlib, json, os, sys
os.chdir(sys.argv[1])
top = os.path.realpath(".")
seen, refused, names = [], [], set()
for pattern in sys.argv[2:]:
    for path in sorted(glob.glob(pattern, recursive=True)):
        if path in names:
            continue
        real = os.path.realpath(path)
        inside = real.startswith(top + os.sep)
        if os.path.islink(path) or not inside:
            if not os.path.exists(path):
                names.add(path)
                refused.append([path, "a symbolic link to nothing"])
                continue
            if not inside:
                names.add(path)
                refused.append([path, "a symbolic link to " + real + ", outside the directory"])
                continue
        if not os.path.isfile(real):
            continue
        names.add(path)
        h = hashlib.sha256()
        with open(real, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        source = os.path.relpath(real, top)
        seen.append([path.replace(os.sep, "/"), os.path.getsize(real), h.hexdigest(),
                     source.replace(os.sep, "/")])
print(json.dumps({"files": seen, "refused": refused}))
"""


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_outputs(runtime: StagingHost, job: Job) -> list[str]:
    """Download the job's ``outputs`` globs into its local outputs dir; files already
    here with the same content are not downloaded again. Returns the local paths."""
    want = getattr(job, "outputs", None)
    if not want:
        return []
    workdir, patterns, dest = want
    res = runtime.environment.run_python(_LIST_OUTPUTS, workdir, *patterns)
    if res.returncode != 0:
        raise SubmitError(f"could not list the outputs in {workdir}: {res.err.strip()[-300:]}")
    listed = json.loads(res.out.strip().splitlines()[-1])
    for name, why in listed["refused"]:
        warnings.warn(
            f"job {job.id}: output {name!r} in {workdir} is {why}: not downloaded (write the "
            "file itself into the job's working directory)",
            stacklevel=2,
        )
    local: list[str] = []
    wanted: dict[str, list[str]] = {}  # remote source -> local targets (links share one)
    for rel, _size, digest, source in listed["files"]:
        target = os.path.normpath(os.path.join(dest, rel))
        if not target.startswith(os.path.join(dest, "")):
            continue  # a name that would land outside the outputs dir
        local.append(target)
        if not (os.path.isfile(target) and _sha256(target) == digest):
            wanted.setdefault(f"{workdir}/{source}", []).append(target)
    if wanted:
        files = runtime.transport.read_files(list(wanted))
        for remote, targets in wanted.items():
            data = files.get(remote)
            if data is None:
                continue
            for target in targets:
                _write_local(target, data)
    job.output_files = local
    return local


def _write_local(target: str, data: bytes) -> None:
    """One downloaded output, replaced atomically."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".clusterlab-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)


# -- what an array keeps for reruns and per-item outputs ---------------------------------------


def item_root(staged: Staged, job_dir: str, array_id: str) -> str:
    """Where a map with ``outputs=`` runs its items, one subdirectory ``<index>`` each, so
    items that write the same file name do not overwrite each other: ``work/<index>`` of
    the job dir by default, ``<workdir>/<array id>/<index>`` in a workdir of the user's
    (which other maps may share)."""
    if staged.workdir:
        return f"{staged.workdir.rstrip('/')}/{array_id}"
    return f"{job_dir}/{jobdir.WORK}"


def item_env(staged: Staged, job_dir: str, array_id: str) -> dict[str, str]:
    """The variable that tells the runner to give each item its own directory (with the
    input files linked in); nothing when the map brings no outputs back."""
    if not staged.options.outputs:
        return {}
    inputs = [dest for _, dest in staged.inputs]
    spec = {"dir": item_root(staged, job_dir, array_id), "inputs": inputs}
    return {jobdir.ITEM_DIRS_VAR: json.dumps(spec)}


def item_outputs(
    staged: Staged, job_dir: str, array_id: str, index: int
) -> tuple[str, list[str], str] | None:
    """Item ``index``'s ``outputs``: (its directory there, the globs, ``<outputs_dir>/<index>``
    here), or None when the map brings no outputs back."""
    if not staged.options.outputs:
        return None
    dest = os.path.join(staged.options.outputs_dir or ".", str(index))
    where = f"{item_root(staged, job_dir, array_id)}/{index}"
    return (where, list(staged.options.outputs), dest)


def staged_record(staged: Staged) -> dict[str, Any]:
    """``staged`` as ledger data, so a rerun from another kernel runs the items as they
    were submitted (same working dir, variables, inputs and Python), not with whatever
    the profile says today."""
    o = staged.options
    return {
        "workdir": staged.workdir,
        "env": dict(staged.env),
        "inputs": [list(pair) for pair in staged.inputs],
        "environment": o.environment,
        "outputs": list(o.outputs),
        "outputs_dir": o.outputs_dir,
        "result_limit": o.result_limit,
    }


def staged_from_record(record: dict[str, Any]) -> Staged:
    """The :class:`Staged` :func:`staged_record` wrote (its inputs are on the cluster
    already: nothing to upload again)."""
    options = RunOptions(
        workdir=record.get("workdir") or None,
        env=dict(record.get("env") or {}),
        environment=record.get("environment"),
        outputs=tuple(record.get("outputs") or ()),
        outputs_dir=record.get("outputs_dir"),
        result_limit=record.get("result_limit"),
    )
    inputs = [(str(a), str(b)) for a, b in record.get("inputs") or []]
    return Staged(options, record.get("workdir") or "", dict(options.env), inputs, {})


def run_record(array: Any) -> dict[str, Any]:
    """What an array's ledger row keeps of how its items run (see :func:`staged_record`)."""
    if array.staged is None:
        return {}
    return {**staged_record(array.staged), "python": list(array.python or [])}


def restore_run(array: Any, record: dict[str, Any]) -> None:
    """Give a reattached array what :func:`run_record` kept (nothing for older rows)."""
    if record:
        array.staged = staged_from_record(record)
        array.python = list(record.get("python") or []) or None
