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
from ..common import jobdir
from ..common import kinds as registry
from ..config import containerspec
from ..config.profile import Profile
from ..config.pythonspec import python_command
from ..config.resources import Resources, parse_resources, refuse_unsupported
from ..transports import get_transport
from .environment.remote import python_argv
from .transfer.staging import jobs_root

JOB_ID = "JOBID"  # placeholders: a submission has the job's id and the function's name
NAME = "FUNCTION"
AUTO_NOTE = (
    "container_engine='auto': the cluster's first of apptainer, singularity, podman, "
    "docker runs the image (preflight names it); shown here with {engine}"
)


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
    workdir = profile.workdir if profile.is_remote else transport.expand(profile.workdir)
    notes: list[str] = []
    needs: list[str] = []
    wrapped = profile.container and not registry.get(profile.scheduler).runs_in_image
    if wrapped:  # as a submission wraps it; 'auto' is picked on the cluster
        engine = profile.container_engine
        if engine == "auto":
            engine = "apptainer" if profile.container.endswith(".sif") else "podman"
            notes.append(AUTO_NOTE.format(engine=engine))
        python = containerspec.wrap(
            engine,
            profile.container,
            python,
            binds=[root.rsplit("/", 1)[0], workdir],
            pwd=f"{root}/{JOB_ID}",
            env_names=[*profile.env, jobdir.WORKDIR_VAR, jobdir.ITEM_DIRS_VAR],
            gpus=bool(merged.gpus),
        )
        needs = [engine] if engine != python[0] else []
    spec = JobSpec(
        job_id=JOB_ID,
        name=NAME,
        job_dir=f"{root}/{JOB_ID}",
        resources=merged,
        python=python,
        setup=list(profile.setup),
        env=dict(profile.env),
        # a submission expands ~ first; a preview of a remote host shows it as typed
        workdir=workdir,
        needs=needs,
    )
    if tasks:
        spec.array = ArraySpec(tasks, max_concurrent)
    backend = make_backend(profile, transport, offline=True)
    try:
        script = backend.job_script(spec)
    finally:
        backend.close()
    notes += [backend.preview_note] if backend.preview_note else []
    if notes:
        shebang, _, rest = script.partition("\n")
        script = shebang + "\n" + "".join(f"# {note}\n" for note in notes) + rest
    return script
