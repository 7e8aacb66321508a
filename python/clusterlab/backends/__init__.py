"""Scheduler backends. A backend knows one scheduler and nothing about notebooks; the kinds
a profile may name are listed once, in :mod:`clusterlab.backends.registry`.

This package's ``__init__`` imports nothing, so that the configuration layer can read the
registry (plain data) without pulling in the backends, which themselves read profiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config.profile import Profile
    from ..transports.base import Transport
    from .base import Backend


def make_backend(profile: Profile, transport: Transport) -> Backend:
    """The backend for ``profile.scheduler`` (the profile was validated against the registry)."""
    from . import registry

    return registry.get(profile.scheduler).load()(profile, transport)
