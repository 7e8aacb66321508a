"""The batch script (or, for Kubernetes, the manifest) a profile's job would get, shown
before anything is submitted.

``clusterlab profile show NAME --script`` and :func:`clusterlab.profiles.job_script`
render it with the backend's own ``job_script`` (the same code a submission runs), for a
call or, with ``tasks``, a map of that many tasks, so what is shown is what will be
submitted, but nothing is staged and no connection is made: the job id and directory are
placeholders and, on a remote host, ``~`` is left for the remote side (a submitted job's
``job.job_script()`` has the real values).
"""

from __future__ import annotations

from ..backends import make_backend
from ..backends.base import ArraySpec, JobSpec
from ..config.profile import Profile
from ..config.pythonspec import python_command
from ..config.resources import Resources, parse_resources, refuse_unsupported
from ..transports import get_transport
from .environment.remote import python_argv
from .transfer.staging import jobs_root

JOB_ID = "JOBID"  # placeholders: a submission has the job's id and the function's name
NAME = "FUNCTION"


def preview_script(
    profile: Profile, resources: Resources | None = None, tasks: int = 0, max_concurrent: int = 0
) -> str:
    """The script of a job of ``profile`` asking for ``resources`` (over its defaults); a
    map of ``tasks`` tasks (at most ``max_concurrent`` at once) when ``tasks``."""
    merged = parse_resources(profile.resources).merged(resources or Resources())
    refuse_unsupported(merged, profile.scheduler)
    transport = get_transport(profile)
    if profile.is_remote:  # expanding ~ over SSH would connect: leave it to the host
        python = python_command(profile.python) if profile.python else ["python3"]
        root = jobs_root(profile, lambda path: path)
    else:
        python, root = python_argv(profile, transport), jobs_root(profile, transport.expand)
    spec = JobSpec(
        job_id=JOB_ID,
        name=NAME,
        job_dir=f"{root}/{JOB_ID}",
        resources=merged,
        python=python,
        setup=list(profile.setup),
        env=dict(profile.env),
        # a submission expands ~ first; a preview of a remote host shows it as typed
        workdir=profile.workdir if profile.is_remote else transport.expand(profile.workdir),
    )
    if tasks:
        spec.array = ArraySpec(tasks, max_concurrent)
    backend = make_backend(profile, transport, offline=True)
    try:
        script = backend.job_script(spec)
    finally:
        backend.close()
    if backend.preview_note:
        shebang, _, rest = script.partition("\n")
        script = f"{shebang}\n# {backend.preview_note}\n{rest}"
    return script
