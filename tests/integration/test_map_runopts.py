"""A map's run options (issue 13): ``outputs=`` per item, and a rerun from another kernel
that runs the items as they were submitted (working dir, variables, Python), not with
whatever the profile or the new kernel would choose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl
from tests.conftest import ssh_profile

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the sandbox user can read and write (pytest's tmp dirs are root's)."""
    path = Path(tempfile.mkdtemp(prefix="cl13-map-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def test_a_maps_outputs_come_back_per_item(any_profile: cl.Profile, tmp_path: Path) -> None:
    """Every item writes the same file name; each item's copy comes back under
    ``<outputs_dir>/<index>/``, and the input files are there for every item."""
    data = tmp_path / "in.csv"
    data.write_text("a\nb\nc\n")
    back = tmp_path / "back"

    def plot(x: int) -> int:
        with open("in.csv") as fh:  # files= reach every item's own directory
            rows = len(fh.read().splitlines())
        os.makedirs("plots", exist_ok=True)
        with open("plots/out.txt", "w") as fh:
            fh.write(f"item {x} of {rows} rows\n")
        return x

    f = cl.cluster(any_profile.name)(plot).options(
        files=[str(data)], outputs=["plots/*.txt"], outputs_dir=str(back)
    )
    arr = f.map(range(3))
    assert arr.results(timeout=120) == [0, 1, 2]
    for i in range(3):
        assert (back / str(i) / "plots" / "out.txt").read_text() == f"item {i} of 3 rows\n"
        assert arr[i].output_files == [str(back / str(i) / "plots" / "out.txt")]
    assert not (back / "0" / "in.csv").exists()  # only what outputs= asked for


KERNEL = textwrap.dedent(
    """
    import json, os, sys
    import clusterlab as cl

    marker, workdir = sys.argv[1], sys.argv[2]

    def where(x):
        if x == 1 and not os.path.exists(marker):
            raise ValueError("item 1 fails until the marker exists")
        return os.getcwd(), os.environ.get("CL13_MAP"), sys.executable

    f = cl.cluster("rr")(where).options(workdir=workdir, env={"CL13_MAP": "as submitted"})
    arr = f.map(range(3))
    arr.wait(timeout=120)
    print(json.dumps({"id": arr.id, "first": arr.results(return_exceptions=True)[0]}))
    """
)


@pytest.mark.parametrize("where", ["local", "slurm-ssh"])
def test_a_rerun_from_another_kernel_keeps_the_maps_options(
    where: str, shared_dir: Path, request: pytest.FixtureRequest
) -> None:
    if where == "local":
        cl.profiles.save(cl.Profile(name="rr", scheduler="local", poll_interval=0.5))
    else:
        sandbox = request.getfixturevalue("sandbox")
        cl.profiles.save(ssh_profile(sandbox, name="rr", poll_interval=0.5))
    marker, workdir = shared_dir / "marker", shared_dir / "project"
    env = {**os.environ, "PYTHONPATH": str(Path(cl.__file__).parents[1])}
    res = subprocess.run(
        [sys.executable, "-c", KERNEL, str(marker), str(workdir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    first = out["first"]
    assert first[:2] == [str(workdir), "as submitted"]
    marker.touch()
    arr = cl.job(out["id"])  # this process is the new kernel: nothing of the old one is here
    assert isinstance(arr, cl.ArrayJob) and arr.wait(timeout=60)
    assert list(arr.failed()) == [1]
    arr.rerun_failed()
    results = arr.results(timeout=120)
    assert results[1] == (str(workdir), "as submitted", first[2])  # not the profile's
