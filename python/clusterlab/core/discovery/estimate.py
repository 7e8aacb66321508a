"""When would a job start: the kind's estimator, after the limits discovery knows.

A request over a partition's limit would never start: that is said before the scheduler is
asked (the same sentence submission would refuse with). The partition's pending count
comes from discovery (this machine's cache), the start from the scheduler's own test.
"""

from __future__ import annotations

from dataclasses import replace

from ...backends.base import Backend
from ...common import kinds
from ...common.estimate import Estimate
from ...config.profile import Profile
from ...config.resources import Resources
from . import cache, limits


def estimate(profile: Profile, backend: Backend, resources: Resources) -> Estimate:
    """When a job of ``profile`` with ``resources`` (over the profile's defaults) would
    start; ``start`` None with ``reason`` when the scheduler cannot say."""
    kind = kinds.get(profile.scheduler)
    info, why_not = cache.for_submission(profile, backend)
    refused = limits.check(info, resources)
    part = info.partition(resources.partition) if info else None
    pending = part.pending if part else None
    if refused:
        return Estimate(None, refused, resources.partition, pending)
    estimator = kind.estimator()
    if estimator is None:
        return Estimate(
            None,
            f"{kind.label} has no way to predict start times; its queue has "
            + ("an unknown number of" if pending is None else str(pending))
            + " jobs waiting",
            part.name if part else resources.partition,
            pending,
        )
    found: Estimate = estimator(backend, resources)
    name = found.partition or (part.name if part else None)
    if info is not None and name:
        pending = next((p.pending for p in info.partitions if p.name == name), pending)
    why = found.why + ((f"pending jobs unknown: {why_not}",) if why_not and info is None else ())
    return replace(found, partition=name, pending=pending, why=why)
