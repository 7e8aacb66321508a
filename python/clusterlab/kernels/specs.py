"""Kernelspecs that start a notebook's kernel as a job of a profile: make, list, remove.

A kernelspec is the one place JupyterLab's launcher, ``jupyter kernelspec list`` and
nbclient learn of a kernel, so a profile's kernel is a kernelspec whose metadata names our
provisioner (``clusterlab``) and carries the profile's name and the resources it asks for.
Resources are checked here with the executor's own parser, so a typo fails at install,
not after a queue wait; the spec stores them in the user's form (``memory='8192MB'``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from ..common import kinds as registry
from ..common.errors import ClusterlabError, ProfileError
from ..config.resources import Resources, parse_resources, refuse_unsupported

PROVISIONER = "clusterlab"  # the entry point name in jupyter_client.kernel_provisioners
DEFAULT_START_TIMEOUT = 600.0  # seconds a start may wait in the queue before giving up
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")


@dataclass(frozen=True)
class KernelInfo:
    """One installed clusterlab kernelspec, as `clusterlab kernel list` shows it."""

    name: str
    display_name: str
    profile: str
    resources: dict[str, Any]
    path: str


def spec_name(profile: str, name: str | None = None) -> str:
    """``clusterlab-PROFILE`` (or ``name``), lower-cased as Jupyter requires; refused with
    the rule when Jupyter could not find it again."""
    chosen = name if name is not None else f"clusterlab-{profile}"
    lowered = chosen.lower()
    if not _NAME_RE.match(lowered):
        raise ClusterlabError(
            f"kernel name {chosen!r}: use letters, digits, '.', '_' and '-' only (at most 64, "
            "starting with a letter or digit), e.g. 'clusterlab-hpc'"
        )
    return lowered


def _duration(seconds: int) -> str:
    """'2 h', '30 min', '1 h 30 min', '1 d 2 h': the display name's short form."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{v} {u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "min")) if v]
    return " ".join(parts) or f"{seconds} s"


def display_name(profile: str, scheduler: str, resources: Resources) -> str:
    """ "Python on hpc (SLURM, 4 cores, 2 h)": what the launcher and kernel menu show."""
    label = registry.get(scheduler).label if scheduler in registry.names() else scheduler
    bits = [label]
    if resources.cores:
        bits.append(f"{resources.cores} core{'s' if resources.cores != 1 else ''}")
    if resources.memory_mb:
        mb = resources.memory_mb
        bits.append(f"{mb // 1024} GB" if mb % 1024 == 0 else f"{mb} MB")
    if resources.gpus:
        kind = f"{resources.gpu_type} " if resources.gpu_type else ""
        bits.append(f"{resources.gpus} {kind}GPU{'s' if resources.gpus != 1 else ''}")
    if resources.time_s:
        bits.append(_duration(resources.time_s))
    if resources.partition:
        bits.append(resources.partition)
    return f"Python on {profile} ({', '.join(bits)})"


def build_spec(
    profile: str,
    scheduler: str,
    resources: dict[str, Any],
    start_timeout: float = DEFAULT_START_TIMEOUT,
) -> dict[str, Any]:
    """The kernel.json for a profile's kernel (resources validated, stored normalised)."""
    parsed = parse_resources(resources)
    refuse_unsupported(parsed, scheduler)
    if not start_timeout > 0:
        raise ClusterlabError(
            f"start_timeout={start_timeout!r}: give the seconds a start may wait, e.g. 600"
        )
    return {
        # jupyter_client needs an argv; the provisioner starts the real one on the cluster
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name(profile, scheduler, parsed),
        "language": "python",
        "interrupt_mode": "signal",  # jupyter_client then calls the provisioner's send_signal
        "metadata": {
            "kernel_provisioner": {
                "provisioner_name": PROVISIONER,
                "config": {
                    "profile": profile,
                    "resources": parsed.to_dict(),
                    "start_timeout": float(start_timeout),
                },
            },
            "clusterlab": {"profile": profile, "scheduler": scheduler},
        },
    }


def _manager() -> Any:
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager()


def install(
    profile: str,
    *,
    name: str | None = None,
    start_timeout: float = DEFAULT_START_TIMEOUT,
    **resources: Any,
) -> KernelInfo:
    """Install (or replace) the kernelspec of ``profile`` in the user's Jupyter data dir
    (``JUPYTER_DATA_DIR`` is honoured) and return what was installed."""
    from .. import profiles

    loaded = profiles.load(profiles.require(profile))
    merged = {**loaded.resources, **{k: v for k, v in resources.items() if v is not None}}
    spec = build_spec(loaded.name, loaded.scheduler, merged, start_timeout)
    kernel = spec_name(loaded.name, name)
    with tempfile.TemporaryDirectory(prefix="clusterlab-kernelspec-") as tmp:
        with open(os.path.join(tmp, "kernel.json"), "w") as fh:
            json.dump(spec, fh, indent=1)
        path = _manager().install_kernel_spec(tmp, kernel_name=kernel, user=True)
    config = spec["metadata"]["kernel_provisioner"]["config"]
    return KernelInfo(kernel, spec["display_name"], loaded.name, config["resources"], path)


def _ours(spec: dict[str, Any]) -> dict[str, Any] | None:
    prov = spec.get("metadata", {}).get("kernel_provisioner", {})
    if prov.get("provisioner_name") != PROVISIONER:
        return None
    config = prov.get("config", {})
    return config if isinstance(config, dict) else None


def installed() -> list[KernelInfo]:
    """Every clusterlab kernelspec Jupyter can find, by name."""
    out = []
    for name, entry in sorted(_manager().get_all_specs().items()):
        config = _ours(entry.get("spec", {}))
        if config is None:
            continue
        out.append(
            KernelInfo(
                name,
                entry["spec"].get("display_name", name),
                str(config.get("profile", "")),
                dict(config.get("resources", {})),
                entry.get("resource_dir", ""),
            )
        )
    return out


def remove(name: str) -> str:
    """Remove the clusterlab kernelspec ``name``; returns the directory removed. Other
    kernelspecs are refused: this command only undoes what `kernel install` did."""
    mine = {k.name: k for k in installed()}
    if name not in mine:
        known = ", ".join(sorted(mine)) or "none are installed"
        raise ProfileError("kernel", f"no clusterlab kernel is named {name!r} (installed: {known})")
    path = mine[name].path
    shutil.rmtree(path)
    return path
