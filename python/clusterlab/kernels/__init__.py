"""A notebook's kernel in a job of a profile (``cl.kernels``): kernelspecs and provisioner.

``cl.kernels.install("hpc", cores=4, time="2:00:00")`` makes the kernelspec
``clusterlab-hpc`` ("Python on hpc (SLURM, 4 cores, 2 h)"); choosing it in JupyterLab or
nbclient starts ipykernel in a job of that profile (``kernels.provisioner``). ``list()`` and
``remove(name)`` show and undo installs. See docs/kernels.md.
"""

from __future__ import annotations

import builtins
from typing import Any

from .specs import DEFAULT_START_TIMEOUT, KernelInfo, installed, spec_name
from .specs import install as _install
from .specs import remove as _remove


def install(
    profile: str,
    *,
    name: str | None = None,
    start_timeout: float = DEFAULT_START_TIMEOUT,
    **resources: Any,
) -> KernelInfo:
    """Install the kernelspec of ``profile`` (resources as ``@cl.cluster`` takes them; the
    profile's own are the defaults); returns what was installed."""
    return _install(profile, name=name, start_timeout=start_timeout, **resources)


def list() -> builtins.list[KernelInfo]:  # cl.kernels.list(), like cl.profiles.list()
    """The clusterlab kernelspecs Jupyter finds."""
    return installed()


def remove(name: str) -> str:
    """Remove the clusterlab kernelspec ``name``; returns its former directory."""
    return _remove(name)


__all__ = ["KernelInfo", "install", "list", "remove", "spec_name"]
