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


def make_backend(profile: Profile, transport: Transport, offline: bool = False) -> Backend:
    """The backend for ``profile.scheduler`` (the profile was validated against the registry).

    ``offline``: for rendering only (a preview), never connecting; a backend that had to
    assume something it would ask the cluster about says so in ``preview_note``."""
    from . import registry

    if offline and profile.scheduler == "pbs":
        from .torque import make_offline_pbs_backend

        return make_offline_pbs_backend(profile, transport)
    return registry.get(profile.scheduler).load()(profile, transport)
