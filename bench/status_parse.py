"""The kernel's CPU for parsing an array task's status file as it grows, old way vs new.

A task's status file gains two lines per item (``item-started``, ``item-finished``, in
the runner's own shape) and every poll brings it whole. The watcher used to parse it whole
whenever its bytes changed (``parse_status``); it now folds in only the lines added since
the last poll (``common/statusgrowth.py``). This replays a file of ``--lines`` item lines
(100,000 by default: 50,000 items) read at ``--polls`` evenly spaced moments, each poll
catching a line half-written (``--torn``, as a read racing the runner's append may),
and prints the CPU time of both ways and checks that they mean the same.

    python bench/status_parse.py [--lines 100000] [--polls 60] [--torn] [--out FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

from clusterlab.common.jobdir import parse_status  # noqa: E402
from clusterlab.common.statusgrowth import GrowingStatus  # noqa: E402

STARTED = (
    b'{"event": "started", "time": 1700000000.0, "host": "node1", "pid": 4242, "attempt": 1}\n'
)


def item_lines(items: int) -> list[bytes]:
    """The runner's two lines per item, as ``remote/runner_items.py`` writes them."""
    lines = [STARTED]
    out = err = 0
    for index in range(items):
        t = 1700000000.0 + index * 0.01
        lines.append(
            b'{"event": "item-started", "time": %.7f, "index": %d, "out": %d, "err": %d}\n'
            % (t, index, out, err)
        )
        lines.append(
            b'{"event": "item-finished", "time": %.7f, "index": %d, "usage": {"elapsed": '
            b'0.004450093001651112, "cpu_time": 0.002357999999999999, "max_rss": 48324608}, '
            b'"out": [%d, %d], "err": [%d, %d], "size": 21, "outcome": "ok", "sha256": '
            b'"b1441e14c211af410dc4034759bf68218c8d4c757748e7a040a6522e95d00d1a"}\n'
            % (t + 0.005, index, out, out + 15, err, err + 7)
        )
        out, err = out + 15, err + 7
    return lines


def polls(lines: list[bytes], count: int, torn: bool) -> list[bytes]:
    """What ``count`` polls read, evenly spaced in lines (the last one: the whole file)."""
    data = b"".join(lines)
    ends, size = [], 0
    for line in lines:
        size += len(line)
        ends.append(size)
    seen = []
    for k in range(1, count + 1):
        end = ends[len(ends) * k // count - 1]
        if torn and k < count:
            end += len(lines[min(len(lines) - 1, len(ends) * k // count)]) // 2
        seen.append(data[:end])
    return seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000, help="item lines (2 per item)")
    ap.add_argument("--polls", type=int, default=60)
    ap.add_argument("--torn", action="store_true", help="each poll ends mid-line")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args()
    reads = polls(item_lines(args.lines // 2), args.polls, args.torn)

    gc.collect()
    start = time.process_time()
    for data in reads:  # (the watcher keeps only the newest parse, so does this)
        old = parse_status(data)
    old_cpu = time.process_time() - start

    gc.collect()
    growing = GrowingStatus()
    start = time.process_time()
    for data in reads:
        new = growing.parse(data)
    new_cpu = time.process_time() - start

    assert new == old, "the incremental parse must mean what the full one does"
    check = GrowingStatus()  # (and so at every poll: checked apart, untimed)
    for data in reads[:: max(1, len(reads) // 6)]:
        assert check.parse(data) == parse_status(data)
    figures = {
        "lines": args.lines,
        "polls": args.polls,
        "torn": args.torn,
        "file_bytes": len(reads[-1]),
        "old_parsed_bytes": sum(len(d) for d in reads),
        "new_parsed_bytes": growing.parsed_bytes,
        "old_cpu_s": round(old_cpu, 3),
        "new_cpu_s": round(new_cpu, 3),
    }
    print(
        f"{args.lines:,} item lines ({len(reads[-1]) / 1e6:.1f} MB) read at {args.polls} polls"
        f"{' (each ending mid-line)' if args.torn else ''}:\n"
        f"  whole parse at each poll (old): {old_cpu:6.2f} s CPU, "
        f"{figures['old_parsed_bytes'] / 1e6:7.1f} MB parsed\n"
        f"  new lines only (GrowingStatus): {new_cpu:6.2f} s CPU, "
        f"{growing.parsed_bytes / 1e6:7.1f} MB parsed"
    )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
