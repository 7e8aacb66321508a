"""Issue 30 item 4: a result larger than its job's ``result_limit`` stays on the cluster.

``job.result()`` then returns a :class:`clusterlab.RemoteResult` (its size, its path
there) whose ``.fetch()`` downloads it, checked against the sha256 its runner recorded;
a smaller result comes back as before. Against this machine's local scheduler and SLURM
over real SSH, with a 1 MB limit and 5 MB results (fast, and the same code path as 2 GB).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.model.alive import live
from clusterlab.core.runtime import get_runtime
from tests.conftest import _saved_profile

pytestmark = pytest.mark.timeout(180)

BIG = 5 * 1024 * 1024


@pytest.fixture(params=["local", "slurm-ssh"])
def profile(request: pytest.FixtureRequest, tmp_path: Path) -> cl.Profile:
    return _saved_profile(request, tmp_path)


def _blob(n: int) -> bytes:
    return b"x" * n


def _remote_size(profile: cl.Profile, path: str) -> int:
    got = get_runtime(profile).transport.read_ranges([(path, 0, 0)])[0]
    assert got is not None, f"{path} is not on the cluster"
    return got[0]


def test_a_result_over_the_limit_stays_there_and_fetch_brings_it(profile: cl.Profile) -> None:
    f = cl.cluster(profile.name)(_blob).options(result_limit="1MB")
    job = f.submit(BIG)
    handle = job.result(timeout=120)
    assert isinstance(handle, cl.RemoteResult)
    assert handle.path == job.result_path
    assert handle.size == _remote_size(profile, handle.path) > BIG
    assert "5.0 MB" in repr(handle) and handle.path in repr(handle)
    assert job.state == cl.JobState.COMPLETED
    assert job.reason.startswith("its result stays on the cluster (5.0 MB")
    assert handle.fetch() == _blob(BIG)
    assert "was fetched" in job.reason
    assert _remote_size(profile, handle.path) == handle.size  # fetching leaves it there


@pytest.mark.parametrize("workers", [None, 1], ids=["tasks", "pool"])
def test_a_map_returns_small_values_and_handles_for_large_ones(
    profile: cl.Profile, workers: int | None
) -> None:
    f = cl.cluster(profile.name)(_blob).options(result_limit="1MB")
    small, large = f.map([10, BIG], workers=workers).results(timeout=120)
    assert small == _blob(10)  # under the limit: the value, as before
    assert isinstance(large, cl.RemoteResult)
    assert large.fetch() == _blob(BIG)


def test_a_corrupted_result_on_the_cluster_is_refused(profile: cl.Profile) -> None:
    job = cl.cluster(profile.name)(_blob).options(result_limit="1MB").submit(BIG)
    handle = job.result(timeout=120)
    # One byte changed in place (same size): only the runner's sha256 can tell.
    get_runtime(profile).transport.script(
        'printf Z | dd of="$1" bs=1 seek=4096 conv=notrunc 2>/dev/null', handle.path
    )
    with pytest.raises(cl.ClusterlabError, match="does not match the checksum"):
        handle.fetch()


def test_a_reattached_job_gives_the_same_handle_and_gc_keeps_its_dir(
    profile: cl.Profile,
) -> None:
    job = cl.cluster(profile.name)(_blob).options(result_limit="1MB").submit(BIG)
    handle = job.result(timeout=120)
    live.pop(job.id)  # as after a kernel restart: rebuilt from the ledger
    again = cl.job(job.id)
    assert again is not job
    other = again.result(timeout=120)
    assert isinstance(other, cl.RemoteResult)
    assert (other.path, other.size, other.sha256) == (handle.path, handle.size, handle.sha256)
    assert job.id not in cl.jobs.gc(older_than=0)  # its result exists only there
    assert other.fetch() == _blob(BIG)


def test_under_the_default_limit_the_value_comes_back(profile: cl.Profile) -> None:
    assert cl.cluster(profile.name)(_blob).submit(BIG).result(timeout=120) == _blob(BIG)


def test_a_cells_variables_come_back_whatever_the_profiles_limit() -> None:
    """%%cluster assigns the cell's names here: they are downloaded even over the limit."""
    from clusterlab.ui import magic

    cl.profiles.save(cl.Profile(name="tiny", scheduler="local", result_limit="1MB"))
    ns: dict[str, object] = {}
    magic.run("tiny", f"blob = b'x' * {BIG}", ns)
    assert ns["blob"] == _blob(BIG)
