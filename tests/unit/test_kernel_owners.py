"""Which kernel jobs a restarted server may adopt (clusterlab.kernels.owners)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

from clusterlab.config.paths import data_dir
from clusterlab.kernels import owners


def _owner(kernel_id: str, name: str = "clusterlab-hpc") -> owners.Owner:
    return owners.Owner(kernel_id, name, "hpc", "job1", "/r/kernels/" + kernel_id, 0)


def test_a_live_server_keeps_its_job_a_dead_one_leaves_it_to_one_new_start() -> None:
    owners.record(_owner("live"))
    path = data_dir() / "kernels" / "live.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert owners.orphans("clusterlab-hpc", "hpc") == []  # this process lives

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    row = json.loads(path.read_text())
    row.update(kernel_id="dead", pid=int(dead.stdout), started="")
    (path.parent / "dead.json").write_text(json.dumps(row))
    (found,) = owners.orphans("clusterlab-hpc", "hpc")
    assert found.kernel_id == "dead"
    assert owners.orphans("clusterlab-other", "hpc") == []  # another kernelspec's: not it

    assert owners.claim(found, "new1")
    assert not owners.claim(found, "new2")  # one start adopts it, never two
    owners.forget("new1")
    owners.forget("live")
    assert owners.orphans("clusterlab-hpc", "hpc") == []


def test_a_reused_pid_is_not_the_server_that_held_the_job() -> None:
    owners.record(_owner("k"))
    path = data_dir() / "kernels" / "k.json"
    row = json.loads(path.read_text())
    row["started"] = "1"  # same pid, another process start time
    path.write_text(json.dumps(row))
    assert [o.kernel_id for o in owners.orphans("clusterlab-hpc", "hpc")] == ["k"]


def test_a_half_written_file_is_never_adopted() -> None:
    owners.record(_owner("k"))
    (data_dir() / "kernels" / "k.json").write_text('{"kernel_id": "k", ')
    assert owners.orphans("clusterlab-hpc", "hpc") == []
