"""Rows written straight into the job ledger, as if that many jobs had been submitted:
for the paged jobs list's browser test (ui-tests/tests/jobs-paging.spec.ts) and its
benchmark (bench/panel_jobs.py). No job runs; the rows are finished (COMPLETED), so the
panel reattaches nothing, and they are removed again by their id prefix.

    python -m tests.ledger_seed seed 10000 ui-page-     # prints {"total": N, ...}
    python -m tests.ledger_seed remove ui-page-
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time

from clusterlab.core.ledger import store


def seed_id(prefix: str, index: int) -> str:
    """Row ``index`` (0: the newest)."""
    return f"{prefix}{index:05d}"


def seed(count: int, prefix: str, newest: float | None = None) -> list[str]:
    """``count`` finished rows, ``seed_id(prefix, 0)`` the newest, submitted one second
    apart and ending at ``newest`` (default: a day from now, so they are listed first).
    Their ids, newest first."""
    top = time.time() + 86_400 if newest is None else newest
    rows = [
        {
            "id": seed_id(prefix, i),
            "kind": "job",
            "profile": "local",
            "profile_json": "{}",
            "name": f"seeded_{i}",
            "native_id": str(100_000 + i),
            "job_dir": f"/nonexistent/{seed_id(prefix, i)}",
            "resources": {},
            "after": [],
            "submitted": top - i,
            "started": top - i + 0.5,
            "ended": top - i + 1.0,
            "state": "COMPLETED",
            "reason": "",
        }
        for i in range(count)
    ]
    store.record_many(rows)
    return [str(r["id"]) for r in rows]


def remove(prefix: str) -> int:
    """Delete the rows whose id starts with ``prefix`` (their cleared marks too)."""
    conn = _with_marks()
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    def body() -> int:
        conn.execute("DELETE FROM cleared WHERE id LIKE ? ESCAPE '\\'", (like,))
        return int(conn.execute("DELETE FROM jobs WHERE id LIKE ? ESCAPE '\\'", (like,)).rowcount)

    return store.transact(conn, body)


def _with_marks() -> sqlite3.Connection:
    """The ledger, with the table of "Clear finished" marks made if missing."""
    from clusterlab.core.ledger import cleared

    conn = store.connect()
    store.retry(lambda: conn.executescript(cleared.SCHEMA))
    return conn


def listed() -> int:
    """How many jobs the panel lists: every row but those "Clear finished" hid (counted
    here in plain SQL, apart from the code the panel's test checks)."""
    conn = _with_marks()
    conn.row_factory = None
    sql = "SELECT COUNT(*) FROM jobs WHERE id NOT IN (SELECT id FROM cleared)"
    return int(conn.execute(sql).fetchone()[0])


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "seed":
        ids = seed(int(argv[1]), argv[2])
        print(json.dumps({"seeded": len(ids), "total": listed(), "newest": ids[0]}))
        return 0
    if len(argv) == 2 and argv[0] == "remove":
        print(json.dumps({"removed": remove(argv[1])}))
        return 0
    print("usage: python -m tests.ledger_seed seed COUNT PREFIX | remove PREFIX", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
