"""What one status poll costs the login node with many watched jobs (issue 30 item 2).

    python bench/poll_script_cost.py [--jobs 10000] [--running 100] [--repeat 5]

Runs the poll's status-file script (``backends/statusdump.READ_STATUS``: the part of every
batch poll that reads the runners' own records) with ``sh`` over ``--jobs`` job dirs in a
temp dir, of which ``--running`` have a status file (the others are pending: no file
yet), and prints the median wall time: CPU spent on the cluster's login node at every
poll, which a site's administrators see. Only this machine; no scheduler is needed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

from clusterlab.backends.statusdump import parse_status_dump, read_status_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--running", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-pollcost-"))
    dirs = []
    for i in range(args.jobs):
        d = root / f"job{i}"
        d.mkdir()
        if i < args.running:
            (d / "status").write_text('{"event": "started", "time": 1}\n')
        dirs.append(str(d))
    script = read_status_lines(dirs).encode()
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        out = subprocess.run(["sh", "-s"], input=script, capture_output=True, check=True).stdout
        times.append(time.perf_counter() - t0)
    seen = sum(1 for files in parse_status_dump(out).values() if "status" in files)
    assert seen == args.running, seen
    print(
        f"{args.jobs} job dirs ({args.running} with a status file): the poll's status script "
        f"takes {statistics.median(times) * 1000:.0f} ms (median of {args.repeat}) on the "
        "login node"
    )


if __name__ == "__main__":
    main()
