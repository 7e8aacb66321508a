"""What every benchmark needs: the sandbox up, a private clusterlab config/data dir, and
profiles for SLURM over SSH and SLURM via the local transport."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(poll_interval: float) -> tuple[Any, Path, dict[str, Any]]:
    """``(sandbox info, scratch dir, {label: Profile})``; safe to call once per process."""
    from tests.cluster import sandbox

    info = sandbox.up()
    os.environ["SLURM_CONF"] = info.slurm_conf
    tmp = Path(tempfile.mkdtemp(prefix="clusterlab-bench-"))
    os.environ["CLUSTERLAB_CONFIG_DIR"] = str(tmp / "config")
    os.environ["CLUSTERLAB_DATA_DIR"] = str(tmp / "data")
    import clusterlab as cl

    profiles = {
        "SLURM, local transport": cl.Profile(
            name="b-slurm",
            scheduler="slurm",
            remote_dir=str(tmp / "jobs"),
            poll_interval=poll_interval,
        ),
        "SLURM over SSH": cl.Profile(
            name="b-ssh", scheduler="slurm", poll_interval=poll_interval, **ssh_fields(info)
        ),
    }
    return info, tmp, profiles


def ssh_fields(info: Any) -> dict[str, Any]:
    """A profile's fields that reach the sandbox's sshd (as its test user, with its key,
    host key and Python): one place for benchmarks that build profiles here or in a
    kernel's cell (the values are plain str/int, so their repr is valid Python)."""
    return {
        "host": info.ssh_host,
        "port": info.ssh_port,
        "user": info.ssh_user,
        "key_file": info.ssh_key,
        "known_hosts": info.known_hosts,
        "python": info.remote_python,
    }
