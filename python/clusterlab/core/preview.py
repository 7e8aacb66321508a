"""What a profile would submit, shown before anything is submitted.

``clusterlab profile show NAME --script`` and ``cl.profiles.job_script(NAME)`` render the
script (or, for Kubernetes, the manifest) of an example call or map with the profile's
default resources, through the same backend code that submits real jobs. Only the job id
is a placeholder.
"""

from __future__ import annotations

from ..backends.base import ArraySpec, JobSpec
from ..config.profile import Profile
from .runtime import get_runtime

EXAMPLE_ID = "yyyymmdd-hhmmss-xxxxxx"  # a real job's id is its submission time + randomness


def sample_script(profile: Profile, tasks: int = 0, max_concurrent: int = 0) -> str:
    """The script a call (``tasks=0``) or a map of ``tasks`` tasks would submit."""
    runtime = get_runtime(profile)
    spec = JobSpec(
        job_id=EXAMPLE_ID,
        name="example",
        job_dir=f"{runtime.jobs_root()}/{EXAMPLE_ID}",
        resources=runtime.default_resources,
        python=runtime.environment.python_argv(),
        setup=list(profile.setup),
    )
    if tasks:
        spec.array = ArraySpec(tasks, max_concurrent)
    return runtime.backend.job_script(spec)
