"""Scheduler backends. A backend knows one scheduler and nothing about notebooks. Each
kind a profile may name is a ``*_kind.py`` module here (its fields, checks and features,
naming its backend), registered in the ``clusterlab.schedulers`` entry-point group and
read through :mod:`clusterlab.common.kinds`.

This package's ``__init__`` imports nothing, so that loading the kinds (which the Profile
class does) never pulls in the backends, which themselves read profiles.
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
    from ..common import kinds

    backend: Backend = kinds.get(profile.scheduler).load(offline)(profile, transport)
    return backend
