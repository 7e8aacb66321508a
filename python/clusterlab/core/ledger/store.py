"""The job ledger: every job and array submitted from this machine, in SQLite.

Written the moment a job is submitted and on every state change (batched per poll), so a
new kernel, the CLI or the lab panel can list jobs and reattach to them. WAL mode and a
busy timeout let several kernels and the CLI write at once. Each process opens its own
connection per thread (sqlite3 connections must not cross threads).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ...common.efficiency import request_hint
from ...common.errors import ClusterlabError
from ...common.usage import ArrayUsage, Usage, usage_from_json
from ...config.attempts import attempt_text, history_of
from ...config.paths import data_dir, private_dir
from ...config.resources import parse_resources
from .filters import NEWEST_FIRST, where

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- 'job' or 'array'
    profile TEXT NOT NULL,
    profile_json TEXT NOT NULL,      -- the profile as submitted: reattach needs no store
    name TEXT NOT NULL,
    native_id TEXT NOT NULL,         -- arrays: the native ids of their parts, comma-joined
    job_dir TEXT NOT NULL,           -- arrays: the first part's dir (all in `spec`)
    resources TEXT NOT NULL,
    after TEXT NOT NULL,             -- ids of the jobs it waits for (JSON list)
    size INTEGER NOT NULL DEFAULT 1,
    spec TEXT NOT NULL DEFAULT '{}', -- arrays: parts and the task of every item
    submitted REAL NOT NULL,
    started REAL,
    ended REAL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    counts TEXT NOT NULL DEFAULT '{}',
    cleaned INTEGER NOT NULL DEFAULT 0,
    usage TEXT,                      -- what it used (JSON; an array: its items' summary)
    history TEXT                     -- its runs: {"max": attempts allowed, "runs": [...]}
);
CREATE INDEX IF NOT EXISTS jobs_profile ON jobs(profile);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
-- newest first, one page at a time (the lab panel's jobs.list): read backwards, stops early
CREATE INDEX IF NOT EXISTS jobs_submitted ON jobs(submitted, id);
CREATE TABLE IF NOT EXISTS items (
    array_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    started REAL,
    ended REAL,
    usage TEXT,
    PRIMARY KEY (array_id, idx)
);
"""
# Columns added since the first release: a ledger written before gains them when opened.
ADDED_COLUMNS = (("jobs", "usage", "TEXT"), ("items", "usage", "TEXT"), ("jobs", "history", "TEXT"))


COLUMNS = frozenset(
    [
        "id",
        "kind",
        "profile",
        "profile_json",
        "name",
        "native_id",
        "job_dir",
        "resources",
        "after",
        "size",
        "spec",
        "submitted",
        "started",
        "ended",
        "state",
        "reason",
        "counts",
        "cleaned",
        "usage",
    ]
)


@dataclass
class JobRecord:
    """One ledger row, as `cl.jobs()` returns it."""

    id: str
    kind: str
    profile: str
    name: str
    native_id: str
    job_dir: str
    state: str
    reason: str
    submitted: float
    started: float | None
    ended: float | None
    resources: dict[str, Any]
    after: list[str]
    size: int
    counts: dict[str, int] = field(default_factory=dict)
    profile_json: str = "{}"
    spec: dict[str, Any] = field(default_factory=dict)
    cleaned: bool = False
    usage: Usage | ArrayUsage | None = None  # what it used, once known (an array: summary)
    # a job's runs (requeues, retries): {"max": attempts allowed, "runs": [job.history]}
    history: dict[str, Any] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        """How many times it ran (1 plus each requeue and retry); 0 before it started."""
        return len(self.history.get("runs") or [])

    @property
    def attempt_text(self) -> str:
        """'attempt 2 of 4' once it ran more than once or may; '' for a job that runs once."""
        return attempt_text(self.attempts, int(self.history.get("max") or 1))

    @property
    def elapsed(self) -> float | None:
        """Seconds it has been running (or ran), None before it started."""
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    @property
    def usage_hint(self) -> str:
        """A sentence when its request was far from what it used ('' otherwise)."""
        try:
            r = parse_resources(self.resources)
        except ClusterlabError:  # a row written by hand or by another release
            return ""
        return request_hint(self.usage, r.memory_mb, r.time_s, r.cores)


def path() -> Path:
    return data_dir() / "ledger.sqlite3"


_local = threading.local()
T = TypeVar("T")


def retry(action: Callable[[], T]) -> T:
    """Run ``action``, retrying for a while when another process holds the database.

    sqlite's busy timeout covers most waits, but a few steps (switching to WAL, schema
    creation racing another process's) can still report "locked" at once.
    """
    deadline = time.monotonic() + 60
    delay = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError(
                    f"the job ledger {path()} stayed locked for 60 s ({exc}); another "
                    "process may be stuck holding it"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def connect() -> sqlite3.Connection:
    """This thread's connection to the current ledger file (tests switch data dirs)."""
    target = str(path())
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None or getattr(_local, "target", None) != target:
        private_dir(path().parent)
        conn = sqlite3.connect(target, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA synchronous=NORMAL")
        retry(lambda: conn.executescript(SCHEMA))
        retry(lambda: _add_columns(conn))
        path().chmod(0o600)
        _local.conn, _local.target = conn, target
    return conn


def _add_columns(conn: sqlite3.Connection) -> None:
    """Give a ledger of an earlier release the columns added since (a process adding the
    same column at the same moment is no error)."""
    for table, column, kind in ADDED_COLUMNS:
        # Names come from ADDED_COLUMNS above, never from input.
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            try:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise


def _write(sql: str, rows: Sequence[Sequence[Any]], *more: tuple[str, Sequence[Any]]) -> None:
    """Run ``sql`` for every row (and each further ``(sql, rows)``) in one transaction."""
    batches = [(q, r) for q, r in ((sql, rows), *more) if r]
    if not batches:
        return
    conn = connect()

    def body() -> None:
        for statement, batch in batches:
            conn.executemany(statement, batch)

    transact(conn, body)


def transact(conn: sqlite3.Connection, body: Callable[[], T]) -> T:
    """Run ``body`` in one ``BEGIN IMMEDIATE`` transaction (rolled back if it raises),
    retried while another process holds the database: the one way the ledger and the
    shared poller's tables (core/watching/sharedpoll.py) are written."""

    def attempt() -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = body()
            conn.execute("COMMIT")
            return out
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    return retry(attempt)


def record(row: dict[str, Any]) -> None:
    """Insert a newly submitted job or array."""
    record_many([row])


def record_many(rows: Sequence[dict[str, Any]]) -> None:
    """Insert newly submitted jobs (rows with the same columns) in one transaction: the
    submission thread accepts a whole batch at once, and a transaction per row cost the
    kernel ~0.4 ms of Python each."""
    if not rows:
        return
    cols = list(rows[0])
    unknown = set(cols) - COLUMNS
    if unknown:
        raise ValueError(f"not ledger columns: {sorted(unknown)}")
    if any(list(row) != cols for row in rows):
        raise ValueError("rows recorded together must have the same columns")
    values = [
        [json.dumps(v) if isinstance(v, dict | list) else v for v in row.values()] for row in rows
    ]
    # Column names are checked against COLUMNS above; every value is a placeholder.
    names, marks = ", ".join(cols), ", ".join("?" * len(cols))
    sql = f"INSERT OR REPLACE INTO jobs ({names}) VALUES ({marks})"  # noqa: S608
    _write(sql, values)


def record_items(array_id: str, indices: Iterable[int], state: str) -> None:
    _write(
        "INSERT OR REPLACE INTO items (array_id, idx, state) VALUES (?, ?, ?)",
        [(array_id, i, state) for i in indices],
    )


def update_jobs(rows: Sequence[tuple[str, str, float | None, float | None, str, str]]) -> None:
    """``(state, reason, started, ended, counts_json, id)`` for many jobs in one transaction."""
    _write(
        "UPDATE jobs SET state=?, reason=?, started=COALESCE(started, ?), "
        "ended=COALESCE(ended, ?), counts=? WHERE id=?",
        rows,
    )


def update_items(rows: Sequence[tuple[str, str, float | None, float | None, str, int]]) -> None:
    """``(state, reason, started, ended, array_id, idx)`` in one transaction."""
    _write(
        "UPDATE items SET state=?, reason=?, started=COALESCE(started, ?), "
        "ended=COALESCE(ended, ?) WHERE array_id=? AND idx=?",
        rows,
    )


def usage_json(usage: Usage | ArrayUsage | None) -> str | None:
    return None if usage is None else json.dumps(usage.to_dict())


def update_usage(
    jobs: Sequence[tuple[str, str]], items: Sequence[tuple[str, str, int]] = ()
) -> None:
    """What jobs (``(usage_json, id)``) and array items (``(usage_json, array_id, idx)``)
    used, in one transaction."""
    _write(
        "UPDATE jobs SET usage=? WHERE id=?",
        jobs,
        ("UPDATE items SET usage=? WHERE array_id=? AND idx=?", items),
    )


def update_history(jobs: Sequence[tuple[str, str]]) -> None:
    """Jobs' runs (``(history_json, id)``), in one transaction."""
    _write("UPDATE jobs SET history=? WHERE id=?", jobs)


def mark_cleaned(job_id: str) -> None:
    _write("UPDATE jobs SET cleaned=1 WHERE id=?", [(job_id,)])


def row(r: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=r["id"],
        kind=r["kind"],
        profile=r["profile"],
        name=r["name"],
        native_id=r["native_id"],
        job_dir=r["job_dir"],
        state=r["state"],
        reason=r["reason"],
        submitted=r["submitted"],
        started=r["started"],
        ended=r["ended"],
        resources=json.loads(r["resources"]),
        after=json.loads(r["after"]),
        size=r["size"],
        counts=json.loads(r["counts"]),
        profile_json=r["profile_json"],
        spec=json.loads(r["spec"]),
        cleaned=bool(r["cleaned"]),
        usage=_usage(r["usage"]),
        history=history_of(r["history"]),
    )


def _usage(text: str | None) -> Usage | ArrayUsage | None:
    try:
        return usage_from_json(json.loads(text)) if text else None
    except ValueError:
        return None


def query(
    profile: str | None = None,
    state: str | Sequence[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[JobRecord]:
    """Jobs newest first, optionally filtered by profile and state(s); ``limit`` rows from
    ``offset`` (both in SQL: only those rows are read and decoded)."""
    conn = connect()
    conn.row_factory = sqlite3.Row
    clause, args = where(profile, state)
    # The clause is built from fixed text; every value is a placeholder.
    sql = f"SELECT * FROM jobs {clause}{NEWEST_FIRST}"  # noqa: S608
    if limit or offset:
        sql += " LIMIT ? OFFSET ?"
        args.extend([int(limit) if limit else -1, int(offset)])
    return [row(r) for r in conn.execute(sql, args)]


def profile_names() -> list[str]:
    """The profiles that have jobs in the ledger, sorted: one indexed query, where reading
    the rows themselves would decode every row's JSON (the monitor asks at every redraw)."""
    conn = connect()
    return sorted(r[0] for r in conn.execute("SELECT DISTINCT profile FROM jobs"))


def get(job_id: str) -> JobRecord | None:
    conn = connect()
    conn.row_factory = sqlite3.Row
    r = conn.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
    return row(r) if r else None


ItemRow = tuple[int, str, str, float | None, float | None, Usage | None]


def items(array_id: str) -> list[ItemRow]:
    """``(index, state, reason, started, ended, usage)`` of an array's items, in order."""
    conn = connect()
    conn.row_factory = None
    rows = conn.execute(
        "SELECT idx, state, reason, started, ended, usage FROM items WHERE array_id=? ORDER BY idx",
        (array_id,),
    ).fetchall()
    out: list[ItemRow] = []
    for i, s, r, a, b, u in rows:
        usage = _usage(u)
        out.append((int(i), str(s), str(r), a, b, usage if isinstance(usage, Usage) else None))
    return out
