"""The owner-only directory for shared logins: master sockets, their locks, prompt sockets.

Why not the config dir: unix socket paths are limited to ~100 bytes, so the directory must
be short; and what is in it grants use of a logged-in connection, so it must belong to this
user with mode 0700, checked every time (a directory someone else made is refused).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import TransportError


def login_dir() -> Path:
    """``$CLUSTERLAB_LOGIN_DIR``, else ``$XDG_RUNTIME_DIR/clusterlab``, else
    ``/tmp/clusterlab-<uid>``; created 0700 and refused unless owned by this user."""
    override = os.environ.get("CLUSTERLAB_LOGIN_DIR")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if override:
        path = Path(override)
    elif runtime and os.path.isdir(runtime):
        path = Path(runtime) / "clusterlab"
    else:
        path = Path(f"/tmp/clusterlab-{os.getuid()}")  # noqa: S108 - owner, mode checked below
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise TransportError(f"cannot create the login directory {path}: {exc}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise TransportError(
            f"{path} is not a directory owned by you: clusterlab keeps shared logins there "
            "and will not use it. Remove it, or set CLUSTERLAB_LOGIN_DIR to a private "
            "directory."
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path
