"""One page of the ledger, newest first, for the lab panel's ``jobs.list``.

Why a module of its own: with 10,000 jobs in the ledger the panel must not read (and
decode the JSON of) every row to show 100 of them. The page, the "Clear finished" marks
and a search of names and ids are all done in SQL; the counts the panel shows (how many
match, how many were cleared, how many of those shown finished) come from one pass over
the matching rows without decoding them. Page and counts are read in one transaction, so
they agree even while the watcher writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .cleared import FINISHED, connect_marks
from .filters import NEWEST_FIRST, where
from .store import JobRecord, retry, row

_NOT_CLEARED = " AND NOT EXISTS (SELECT 1 FROM cleared c WHERE c.id = jobs.id)"


@dataclass(frozen=True)
class Page:
    """The jobs of one page and the counts of every job the request matched."""

    rows: list[JobRecord]
    offset: int  # where the page starts (moved back when the asked one is past the end)
    total: int  # matching jobs it lists (those "Clear finished" hid left out)
    cleared: int  # matching jobs "Clear finished" hid (0 with include_cleared)
    finished: int  # of `total`, those that finished (what "Clear finished" would hide)


def search_clause(text: str) -> tuple[str, list[str]]:
    """Every word of ``text`` must appear in the name, the id or the scheduler's id
    (case-insensitive, as the panel's search box always did); ``%`` and ``_`` are
    searched for as themselves."""
    sql, args = "", []
    for word in text.split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        sql += " AND (name || ' ' || id || ' ' || native_id) LIKE ? ESCAPE '\\'"
        args.append(f"%{escaped}%")
    return sql, args


def page(
    *,
    offset: int = 0,
    limit: int = 100,
    profile: str | None = None,
    state: str | Sequence[str] | None = None,
    text: str = "",
    include_cleared: bool = False,
) -> Page:
    """``limit`` jobs from ``offset`` (newest first) among those of ``profile``, ``state``
    and matching ``text``. An offset past the last job gives the last page (after a
    "Clear finished" the page a panel was on may no longer exist)."""
    conn = connect_marks()
    clause, args = where(profile, state)
    found, found_args = search_clause(text)
    clause, args = clause + found, args + found_args

    def read() -> Page:
        conn.execute("BEGIN")  # one snapshot for the counts and the rows
        try:
            total, cleared, finished = _counts(conn, clause, args, include_cleared)
            start = offset
            if limit and total and start >= total:
                start = (total - 1) // limit * limit
            rows = _rows(conn, clause, args, include_cleared, start, limit)
        finally:
            conn.execute("COMMIT")
        return Page(rows, start, total, cleared, finished)

    return retry(read)


def _counts(
    conn: sqlite3.Connection, clause: str, args: list[Any], include_cleared: bool
) -> tuple[int, int, int]:
    marks = ", ".join("?" * len(FINISHED))
    hidden = "0" if include_cleared else "EXISTS (SELECT 1 FROM cleared c WHERE c.id = jobs.id)"
    # Fixed text and placeholders only (clause from store.where and search_clause).
    inner = f"SELECT state, {hidden} AS hid FROM jobs {clause}"  # noqa: S608
    sums = f"COALESCE(SUM(hid), 0), COALESCE(SUM(NOT hid AND state IN ({marks})), 0)"
    sql = f"SELECT COUNT(*), {sums} FROM ({inner})"  # noqa: S608
    everything, cleared, finished = conn.execute(sql, [*FINISHED, *args]).fetchone()
    return int(everything) - int(cleared), int(cleared), int(finished)


def _rows(
    conn: sqlite3.Connection,
    clause: str,
    args: list[Any],
    include_cleared: bool,
    offset: int,
    limit: int,
) -> list[JobRecord]:
    if not limit:
        return []
    shown = "" if include_cleared else _NOT_CLEARED
    conn.row_factory = sqlite3.Row
    sql = f"SELECT * FROM jobs {clause}{shown}{NEWEST_FIRST} LIMIT ? OFFSET ?"  # noqa: S608
    return [row(r) for r in conn.execute(sql, [*args, limit, offset])]
