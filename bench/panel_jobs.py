"""The lab panel's jobs list with 10,000 jobs in the ledger: ``jobs.list`` as the panel
asks it, timed from request to reply in a real comm handler (issue 30 item 2).

A private ledger gets 10,000 finished rows (tests/ledger_seed.py: no job runs). Timed,
median of several requests each (other processes share this machine's two cores):
the panel's first page (``limit`` 100), the last page (``offset`` 9,900), a search, and
``limit`` 500 (what the panel asked before paging). The target (issue 30: "the panel
opens in < 1 s with 10,000 rows in the ledger") is checked on the first page's reply;
the browser's draw time is measured by ui-tests/tests/jobs-paging.spec.ts.

    python bench/panel_jobs.py [--rows 10000] [--tree DIR]

``--tree DIR`` imports clusterlab from another checkout (e.g. the commit before paging,
whose ``jobs.list`` ignores ``offset`` and reads every row), to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.0


class Comm:
    """Stands in for ipykernel's Comm: keeps the replies, wakes the waiter."""

    def __init__(self) -> None:
        self.replies: dict[str, dict[str, Any]] = {}
        self.cond = threading.Condition()

    def send(self, data: dict[str, Any]) -> None:
        with self.cond:
            if data.get("id") is not None:
                self.replies[str(data["id"])] = data
                self.cond.notify_all()

    def on_msg(self, callback: Any) -> None:
        self.callback = callback

    def on_close(self, callback: Any) -> None:
        pass

    def ask(self, data: dict[str, Any], rid: str) -> tuple[float, dict[str, Any]]:
        """Seconds from request to reply, and the reply."""
        msg = {"v": 1, "type": "jobs.list", "id": rid, "data": data}
        start = time.perf_counter()
        self.callback({"content": {"data": msg}})
        with self.cond:
            while rid not in self.replies:
                self.cond.wait(60)
        took = time.perf_counter() - start
        reply = self.replies.pop(rid)
        if not reply.get("ok"):
            raise SystemExit(f"jobs.list failed: {reply.get('error')}")
        return took, reply["data"]


def measure(rows: int, repeat: int = 7) -> dict[str, dict[str, float]]:
    from tests import ledger_seed

    from clusterlab.ui.comm import CommHandler

    ledger_seed.seed(rows, "bench-page-")
    comm = Comm()
    handler = CommHandler(comm)
    asks = {
        "first page (limit 100)": {"limit": 100},
        f"last page (offset {rows - 100})": {"limit": 100, "offset": rows - 100},
        "search 'seeded_4242'": {"limit": 100, "text": "seeded_4242"},
        "limit 500 (before paging)": {"limit": 500},
    }
    out: dict[str, dict[str, float]] = {}
    try:
        for n, (name, data) in enumerate(asks.items()):
            times, sent = [], 0
            for i in range(repeat):
                took, reply = comm.ask(data, f"{n}-{i}")
                times.append(took)
                sent = len(reply["jobs"])
            out[name] = {
                "median_s": statistics.median(times),
                "max_s": max(times),
                "rows_sent": sent,
                "total": float(reply.get("total", 0)),
            }
    finally:
        handler.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to import from")
    args = parser.parse_args()
    sys.path[:0] = [str(args.tree / "python"), str(ROOT)]
    tmp = Path(tempfile.mkdtemp(prefix="clusterlab-panel-jobs-"))
    os.environ["CLUSTERLAB_CONFIG_DIR"] = str(tmp / "config")
    os.environ["CLUSTERLAB_DATA_DIR"] = str(tmp / "data")
    results = measure(args.rows)
    print(f"jobs.list with {args.rows:,} rows in the ledger (clusterlab from {args.tree})")
    for name, r in results.items():
        print(
            f"  {name:32s} median {r['median_s'] * 1000:7.1f} ms  max {r['max_s'] * 1000:7.1f} ms"
            f"  ({int(r['rows_sent'])} rows sent, total {int(r['total']):,})"
        )
    first = results["first page (limit 100)"]["median_s"]
    met = first < TARGET_S
    print(
        f"panel jobs list reply (first page, {args.rows:,} rows): {first * 1000:.1f} ms "
        f"(target < {TARGET_S:.0f} s): {'met' if met else 'missed'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
