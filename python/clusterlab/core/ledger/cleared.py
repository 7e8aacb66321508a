"""Jobs the lab panel's "Clear finished" hid from its list, kept in the ledger.

Why in the ledger and not in a browser: every view of the panel (another browser, another
tab, a reload, another kernel serving the panel) reads the same jobs from the same ledger,
so it must read the same "cleared" marks too. A mark hides a job from the panel's list
only (``jobs.list``); ``cl.jobs()``, ``cl.job(id)`` and ``clusterlab jobs`` are the record
of what ran and keep listing every job. The marks live in their own table, so a ledger of
an earlier release gains it when first used and the jobs table is not changed.
"""

from __future__ import annotations

import sqlite3
import time

from ...common.states import TERMINAL
from .store import connect, retry, transact

SCHEMA = """
CREATE TABLE IF NOT EXISTS cleared (
    id TEXT PRIMARY KEY,             -- a job or array id of the jobs table
    at REAL NOT NULL                 -- when "Clear finished" hid it
);
"""
FINISHED = tuple(sorted(state.value for state in TERMINAL))
# One "?" per finished state (sqlite refuses a call with another number of values).
_MARK_FINISHED = (
    "INSERT OR IGNORE INTO cleared (id, at) SELECT id, ? FROM jobs WHERE state IN (?, ?, ?, ?, ?)"
)


def connect_marks() -> sqlite3.Connection:
    """This thread's ledger connection, with the marks' table made if missing."""
    conn = connect()
    retry(lambda: conn.executescript(SCHEMA))
    return conn


def clear_finished(now: float | None = None) -> int:
    """Mark every job that has finished (by its ledger state) as cleared; how many were
    newly marked. Jobs still active are not marked: when they end they show as usual."""
    conn = connect_marks()
    at = time.time() if now is None else now

    def body() -> int:
        return int(conn.execute(_MARK_FINISHED, (at, *FINISHED)).rowcount)

    return transact(conn, body)


def show_cleared() -> int:
    """Forget every mark (the panel's "Show N cleared"); how many there were."""
    conn = connect_marks()
    return transact(conn, lambda: int(conn.execute("DELETE FROM cleared").rowcount))


def cleared_ids() -> set[str]:
    """The ids "Clear finished" hid (also of jobs no longer in the ledger: harmless)."""
    conn = connect_marks()
    conn.row_factory = None
    return {str(row[0]) for row in conn.execute("SELECT id FROM cleared")}
