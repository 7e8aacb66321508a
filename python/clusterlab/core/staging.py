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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..common import jobdir
from ..common.errors import SubmitError
from ..config.runopts import RunOptions, input_target, profile_options

if TYPE_CHECKING:
    from .job import Job
    from .runtime import Runtime


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


def resolve(runtime: Runtime, call: RunOptions | None) -> Staged:
    """The profile's defaults with the call's options on top, checked and expanded (no
    upload yet: a call that cannot be pickled still fails before anything is sent)."""
    from .runtime import jobs_root  # (runtime wires the collector, which imports this)

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


# Lists files matching globs ($2...) under a directory ($1) as JSON [path, size, sha256].
_LIST_OUTPUTS = r"""
import glob, hashlib, json, os, sys
os.chdir(sys.argv[1])
seen = []
for pattern in sys.argv[2:]:
    for path in sorted(glob.glob(pattern, recursive=True)):
        if os.path.isfile(path) and path not in (s[0] for s in seen):
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            seen.append([path.replace(os.sep, "/"), os.path.getsize(path), h.hexdigest()])
print(json.dumps(seen))
"""


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_outputs(runtime: Runtime, job: Job) -> list[str]:
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
    local: list[str] = []
    wanted: dict[str, str] = {}
    for rel, _size, digest in listed:
        target = os.path.normpath(os.path.join(dest, rel))
        if not target.startswith(os.path.join(dest, "")):
            continue  # a name that would land outside the outputs dir
        local.append(target)
        if not (os.path.isfile(target) and _sha256(target) == digest):
            wanted[f"{workdir}/{rel}"] = target
    if wanted:
        files = runtime.transport.read_files(list(wanted))
        for remote, target in wanted.items():
            data = files.get(remote)
            if data is None:
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".clusterlab-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
    job.output_files = local
    return local
