"""Discovery, cached per cluster on this machine and refreshed in the background.

Why a file cache rather than the shared poller's lease: discovery answers a question that
changes slowly (limits) or that nobody needs to the second (idle nodes, pending jobs), so
a JSON file per cluster under the user's data dir, with its age, is all the sharing it
needs: every kernel, the panel and the CLI of this machine read the same file, and a file
lock makes one of them refresh it while the others keep reading the older answer. The
file is keyed like the shared poller (:func:`.watching.pollstore.cluster_key`), so two
profiles of one cluster share one discovery, and written 0600 in a 0700 directory
(:func:`clusterlab.config.paths.write_private`).

* :func:`cluster_info` answers from the file when it is younger than ``max_age``; when
  older, it answers with it and refreshes in a background thread; when there is none (or
  ``refresh=True``), it asks the cluster now, in one round trip.
* :func:`for_submission` never raises and never blocks on a failed discovery: a failure
  is remembered for ``max_age`` and then means "no check" (see :mod:`.limits`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ...backends.base import Backend
from ...common import kinds
from ...common.clusterinfo import ClusterInfo
from ...common.errors import ClusterlabError
from ...config import paths
from ...config.profile import Profile
from ..watching.pollstore import cluster_key

CHECK_ENV = "CLUSTERLAB_CHECK_LIMITS"
"""Set to ``0`` to submit without checking discovery's limits (the scheduler alone decides:
for a site whose limits discovery misreads, and for tests of the schedulers' refusals)."""

MAX_AGE = 60.0
"""Seconds a discovery answers before it is refreshed (``CLUSTERLAB_DISCOVERY_MAX_AGE``)."""


class DiscoveryError(ClusterlabError):
    """The cluster could not be asked, or its scheduler cannot say what it offers."""


def max_age() -> float:
    """The age after which a discovery is refreshed, from the environment or the default."""
    try:
        return float(os.environ.get("CLUSTERLAB_DISCOVERY_MAX_AGE", MAX_AGE))
    except ValueError:
        return MAX_AGE


def cache_path(profile: Profile) -> Path:
    """The cluster's discovery file (shared by every profile of the cluster)."""
    return paths.data_dir() / "discovery" / f"{cluster_key(profile)}.json"


def read(profile: Profile) -> tuple[ClusterInfo | None, str, float]:
    """``(info, error, when)`` as last written: the info (None after a failure), the
    failure's sentence, and when it was written (0: never)."""
    try:
        data = json.loads(cache_path(profile).read_text())
    except (OSError, ValueError):
        return None, "", 0.0
    when = float(data.get("written", 0.0))
    info = ClusterInfo.from_dict(data["info"]) if data.get("info") else None
    return info, str(data.get("error", "")), when


def _write(profile: Profile, info: ClusterInfo | None, error: str) -> None:
    record = {"written": time.time(), "info": info.to_dict() if info else None, "error": error}
    paths.write_private(cache_path(profile), json.dumps(record).encode())


@contextlib.contextmanager
def _refresh_lock(profile: Profile, wait: bool) -> Iterator[bool]:
    """The cluster's refresh lock: True when held (``wait=False`` gives up at once)."""
    path = cache_path(profile)
    paths.private_dir(path.parent)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def discover(profile: Profile, backend: Backend) -> ClusterInfo:
    """Ask the cluster now (one round trip through the backend's transport: the
    profile's shared connection)."""
    kind = kinds.get(profile.scheduler)
    fn = kind.discoverer()
    if fn is None:
        raise DiscoveryError(
            f"the {kind.label} scheduler cannot say which partitions and limits it has; "
            "type the values yourself"
        )
    info: ClusterInfo = fn(backend)
    return info


def refresh(profile: Profile, backend: Backend) -> ClusterInfo:
    """Discover now and write the file (a failure is written too, then raised). Kernels
    refreshing at once wait for the first, then use what it wrote."""
    asked = time.time()
    with _refresh_lock(profile, wait=True):
        info, error, when = read(profile)
        if when >= asked:  # another process refreshed while we waited
            if info is None:
                raise DiscoveryError(error)
            return info
        try:
            info = discover(profile, backend)
        except ClusterlabError as exc:
            _write(profile, None, str(exc))
            if isinstance(exc, DiscoveryError):
                raise
            raise DiscoveryError(f"could not ask {profile.name!r}: {exc}") from exc
        _write(profile, info, "")
        return info


_background: set[str] = set()
_background_lock = threading.Lock()


def _refresh_in_background(profile: Profile, backend: Backend) -> None:
    """Refresh in a daemon thread unless this process or another is refreshing already."""
    key = cluster_key(profile)
    with _background_lock:
        if key in _background:
            return
        _background.add(key)

    def work() -> None:
        try:
            with _refresh_lock(profile, wait=False) as held:
                if not held:  # another process is refreshing it
                    return
            refresh(profile, backend)
        except ClusterlabError:
            pass  # written to the file: the next reader sees the sentence
        finally:
            with _background_lock:
                _background.discard(key)

    threading.Thread(target=work, name="clusterlab-discovery", daemon=True).start()


def cluster_info(
    profile: Profile, backend: Backend, refresh_now: bool = False, age: float | None = None
) -> ClusterInfo:
    """What the cluster offers: from the cache when young enough, else asked (see module)."""
    limit = max_age() if age is None else age
    info, error, when = read(profile)
    if refresh_now or when == 0.0:
        return refresh(profile, backend)
    if time.time() - when > limit:
        if info is None:
            return refresh(profile, backend)  # an old failure: try again, and say why if it fails
        _refresh_in_background(profile, backend)
    if info is None:
        raise DiscoveryError(error)
    return info


def for_submission(profile: Profile, backend: Backend) -> tuple[ClusterInfo | None, str]:
    """``(info, why not)`` for checking a request: never raises, so that a submission is
    never blocked by a discovery that failed (its sentence is the second value)."""
    if os.environ.get(CHECK_ENV, "1") == "0":
        return None, f"{CHECK_ENV}=0: limits are not checked"
    if kinds.get(profile.scheduler).discoverer() is None:
        return None, "this scheduler has no discovery"
    try:
        return cluster_info(profile, backend), ""
    except ClusterlabError as exc:
        return None, str(exc)
