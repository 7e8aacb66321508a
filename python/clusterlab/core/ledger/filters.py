"""Which ledger rows a listing picks and in what order: one ``WHERE`` clause and one
``ORDER BY`` shared by ``store.query`` (``cl.jobs()``, the CLI, the monitor) and the
panel's paged ``jobs.list`` (``pages.py``), so they always agree on what "the jobs of
profile P in state S, newest first" means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Newest first; the id breaks ties (a batch is recorded with one time). An index on
# (submitted, id) serves it read backwards.
NEWEST_FIRST = " ORDER BY submitted DESC, id DESC"


def where(profile: str | None, state: str | Sequence[str] | None) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (with its values) that picks jobs of a profile and state(s):
    with ``ORDER BY`` after it, every listing of the ledger uses this one."""
    sql, args = "WHERE 1=1", list[Any]()
    if profile:
        sql += " AND profile=?"
        args.append(profile)
    if state:
        states = [state] if isinstance(state, str) else list(state)
        sql += f" AND state IN ({', '.join('?' * len(states))})"
        args.extend(s.upper() for s in states)
    return sql, args
