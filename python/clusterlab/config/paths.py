"""Where clusterlab keeps its files on this machine (overridable for tests and sites)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs


def config_dir() -> Path:
    """Profiles live here: ``$CLUSTERLAB_CONFIG_DIR`` or the platform's user config dir."""
    override = os.environ.get("CLUSTERLAB_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir("clusterlab"))


def data_dir() -> Path:
    """Local job dirs and the ledger: ``$CLUSTERLAB_DATA_DIR`` or the user data dir."""
    override = os.environ.get("CLUSTERLAB_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("clusterlab"))


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the owner only; job data can be private."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600 from the first byte on."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for a read-modify-write of ``path`` across processes (a
    ``.lock`` file beside it, 0600): two kernels saving profiles at once both keep theirs."""
    private_dir(path.parent)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
