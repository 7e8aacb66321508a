"""Scheduler backends by profile kind. Adding a scheduler = a module + one entry here."""

from __future__ import annotations

from ..config.profile import Profile
from ..transports.base import Transport
from .base import Backend, BatchBackend, JobSpec, Observation
from .local import LocalBackend
from .slurm import SlurmBackend

BACKENDS: dict[str, type[Backend]] = {
    "local": LocalBackend,
    "slurm": SlurmBackend,
}


def make_backend(profile: Profile, transport: Transport) -> Backend:
    """The backend for ``profile.scheduler`` (the profile was validated against this list)."""
    return BACKENDS[profile.scheduler](profile, transport)


__all__ = ["BACKENDS", "Backend", "BatchBackend", "JobSpec", "Observation", "make_backend"]
