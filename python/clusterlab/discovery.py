"""What a cluster offers, for people: ``cl.cluster_info("hpc")``, ``cl.estimate("hpc", ...)``.

A face over :mod:`clusterlab.core.discovery`: the profile's name becomes its runtime (the
shared connection), the answer comes from this machine's discovery cache when it is young
enough (see :mod:`clusterlab.core.discovery.cache`).
"""

from __future__ import annotations

from typing import Any

from . import profiles
from .common.clusterinfo import ClusterInfo
from .common.estimate import Estimate
from .config.profile import Profile
from .config.resources import Resources, parse_resources
from .core.discovery import cache
from .core.discovery.estimate import estimate as estimate_start
from .core.runtime import get_runtime


def cluster_info(profile: str | Profile | None = None, refresh: bool = False) -> ClusterInfo:
    """The partitions (queues) of ``profile``'s cluster with their limits and load, the
    default partition, the QOS and your accounts.

    ``info.partitions[i]`` has ``name``, ``max_time`` (a timedelta, None for unlimited),
    ``nodes``, ``idle_nodes``, ``cores_per_node``, ``memory_per_node`` (MiB) and ``gpus``
    (GPU type -> count per node); ``info.why`` says what could not be learnt. Answered
    from this machine's cache when younger than a minute (refreshed in the background
    after that); ``refresh=True`` asks the cluster now. Raises
    :class:`~clusterlab.ClusterlabError` with the reason when the cluster cannot be asked.
    """
    prof = profiles.resolve(profile)
    return cache.cluster_info(prof, get_runtime(prof).backend, refresh_now=refresh)


def estimate(profile: str | Profile | None = None, **resources: Any) -> Estimate:
    """When a job with these resources (over the profile's defaults) would start:
    ``.start`` (a datetime, None with ``.reason`` when the scheduler cannot say or the
    request breaks a limit), ``.partition``, ``.pending`` (jobs waiting there) and
    ``.fair_share`` (SLURM with accounting). SLURM answers with ``sbatch --test-only``
    (nothing is queued); Grid Engine and PBS cannot say."""
    return estimate_for(profile, parse_resources(resources))


def estimate_for(profile: str | Profile | None, resources: Resources) -> Estimate:
    """:func:`estimate` for a validated request (``f.options(...).estimate()``)."""
    prof = profiles.resolve(profile)
    runtime = get_runtime(prof)
    merged = runtime.default_resources.merged(resources)
    return estimate_start(prof, runtime.backend, merged)
