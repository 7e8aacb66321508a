"""The ``direct`` dialect's set-up: profiles with a private remote_dir per test, over the
sandbox's real sshd (as its throwaway user) or on this machine, and a drain that leaves
no job and no dispatcher behind."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path

import clusterlab as cl
from clusterlab.core.runtime import get_runtime

from ..conftest import ssh_profile

SLOTS = 8  # the conformance tests need a few at once (dependencies, throttled maps)


def direct_profile(info: object, name: str = "direct", **overrides: object) -> cl.Profile:
    """``direct`` over SSH to the sandbox, in ``~/cl-direct/<random>`` of its test user."""
    fields: dict[str, object] = {
        "scheduler": "direct",
        "remote_dir": f"~/cl-direct/{secrets.token_hex(6)}",
        "max_concurrent": SLOTS,
        **overrides,
    }
    return ssh_profile(info, name=name, **fields)


def here_profile(tmp_path: Path, name: str = "dhere", **overrides: object) -> cl.Profile:
    """``direct`` without a host: this machine, queue in the test's own directory."""
    fields: dict[str, object] = {
        "name": name,
        "scheduler": "direct",
        "remote_dir": str(tmp_path / "direct"),
        "max_concurrent": SLOTS,
        "poll_interval": 1.0,
        **overrides,
    }
    return cl.Profile(**fields)  # type: ignore[arg-type]


# For each host's queue: cancel every spooled job, wait for the spool to empty and the
# dispatcher to let go of its lock; then remove the whole remote_dir.
_DRAIN = r"""
root=$1
for q in "$root"/queue/*/; do
  q=${q%/}
  [ -d "$q/spool" ] || continue
  for e in "$q"/spool/*; do
    [ -f "$e" ] && read -r d < "$e" && [ -d "$d" ] && : > "$d/cancel"
  done
  touch -c -- "$q/spool"
  read -r pid 2>/dev/null < "$q/pid" && kill -s URG "$pid" 2>/dev/null
  i=0
  while [ "$i" -lt 150 ] && [ -n "$(ls -A -- "$q/spool")" ]; do sleep 0.2; i=$((i + 1)); done
  timeout 30 flock "$q/lock" true
done
rm -rf -- "$root"
"""


def shared_dir() -> Path:
    """A directory the test writes and the jobs, run as the sandbox's user, can read (the
    test's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="cl-direct-"))
    path.chmod(0o755)
    return path


def drain(profile: cl.Profile, shared: Path | None = None) -> None:
    """Leave nothing of the test behind on the host (jobs, dispatcher, files)."""
    runtime = get_runtime(profile)
    root = runtime.jobs_root().rsplit("/", 1)[0]
    res = runtime.transport.script(_DRAIN, root)
    if shared is not None:
        shutil.rmtree(shared, ignore_errors=True)
    assert res.returncode == 0, f"draining {root} failed: {res.err}"
