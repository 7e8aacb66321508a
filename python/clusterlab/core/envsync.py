"""``environment="sync"``: a cached environment on the cluster with this kernel's packages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.errors import RemoteEnvironmentError

if TYPE_CHECKING:
    from .environment import RemoteEnvironment


def ensure_synced(env: RemoteEnvironment, remote_dir: str) -> list[str]:
    """The python argv of the synced environment under ``remote_dir/envs``."""
    raise RemoteEnvironmentError("environment='sync' is not available yet: use 'existing'")
