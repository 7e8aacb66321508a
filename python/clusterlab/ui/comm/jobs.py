"""``jobs.list``, ``jobs.clear``, ``jobs.unclear`` and ``job.cancel``, and the
``job.event`` push: state changes of every job, collected and sent at most every
:data:`.topic.EVENT_INTERVAL` seconds with only the newest state of each job or array.

"Clear finished" is kept in the ledger (:mod:`...core.ledger.cleared`), so every panel
(other browsers, other kernels) lists the same jobs; ``jobs.list`` leaves the cleared ones
out unless asked for them and says how many it left out. It answers one page (``offset``,
``limit``) read in SQL (:mod:`...core.ledger.pages`): with 10,000 jobs in the ledger the
panel costs one page of rows, not 10,000 decoded and sliced.

``jobs.list`` also reattaches, in the background, active jobs nobody in this kernel
watches (their kernel restarted or closed), so their endings reach the panel.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict
from typing import Any

from ...common.errors import ClusterlabError
from ...common.usage import ArrayUsage, Usage
from ...config.attempts import attempt_text
from ...core.ledger import cleared as cleared_marks
from ...core.ledger import pages
from ...core.ledger import store as ledger
from ...core.model import events
from ...core.model.alive import live as live_objects
from ...core.model.alive import watch_only
from .topic import EVENT_INTERVAL, Connection, Request, RequestError, Topic, job_id

REATTACH_EVERY = 30.0  # seconds before an unwatched active job is reattached again
_ACTIVE = {"SUBMITTING", "PENDING", "RUNNING"}


def usage_data(usage: Usage | ArrayUsage | None, hint: str) -> dict[str, Any]:
    """What a job used, as data and as the sentence the panel shows (with a hint when
    its request was far off); empty until known."""
    if usage is None:
        return {}
    return {"usage": usage.to_dict(), "usage_text": str(usage), "usage_hint": hint}


def _record(rec: ledger.JobRecord) -> dict[str, Any]:
    out = asdict(rec)
    out.pop("profile_json")
    out.pop("usage")  # absent until known, as in job.event entries
    out["elapsed"] = rec.elapsed
    out["attempt_text"] = rec.attempt_text  # "attempt 2 of 3" (history: each run)
    return {**out, **usage_data(rec.usage, rec.usage_hint)}


def _attempt(job: Any) -> dict[str, str]:
    """A live job's "attempt 2 of 3" (requeues, retries); nothing for one that runs once."""
    text = attempt_text(getattr(job, "attempts", 0), getattr(job, "max_attempts", 1))
    return {"attempt_text": text} if text else {}


def _reattach(job_id: str) -> None:
    from ...jobs import job

    # Watched for its state only: its value is not read into this kernel when it ends
    # (job.result reads it, bounded, when the panel asks).
    watch_only.add(job_id)
    try:
        job(job_id)  # watched from now on; its watcher publishes what happens
    except ClusterlabError as exc:  # e.g. its host is unreachable: tried again later
        print(f"clusterlab: the panel cannot watch job {job_id}: {exc}", file=sys.stderr)


def cancel(data: dict[str, Any], rid: str) -> dict[str, Any]:
    from ...jobs import job

    target = job(job_id(data))
    target.cancel()
    return {"id": target.id, "state": target.state.value}


class _JobsTopic:
    """One connection's job list requests and job event stream."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._pending: dict[str, dict[str, Any]] = {}
        self._reattached: dict[str, float] = {}  # job id -> when this panel reattached it
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._unsubscribe = events.subscribe(self._on_event)
        self._flusher = threading.Thread(target=self._flush_events, daemon=True)
        self._flusher.start()

    def close(self) -> None:
        self._closed.set()
        self._unsubscribe()

    # -- jobs.list ------------------------------------------------------------------------
    def list_(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        limit = data.get("limit")
        limit = 200 if limit is None else limit
        if type(limit) is not int or limit < 0:
            raise RequestError("'limit' must be a whole number of jobs, e.g. 200")
        profile = data.get("profile")
        if profile is not None and not isinstance(profile, str):
            raise RequestError("'profile' must be a profile name, e.g. 'hpc'")
        state = data.get("state")
        states = ([state] if state else None) if isinstance(state, str) else state  # "": all
        if states is not None and not (
            isinstance(states, list) and all(isinstance(s, str) for s in states)
        ):
            raise RequestError(
                "'state' must be a state or a list of states, e.g. 'RUNNING' or "
                "['PENDING', 'RUNNING']"
            )
        include = data.get("include_cleared", False)
        if not isinstance(include, bool):
            raise RequestError("'include_cleared' must be true or false")
        offset = data.get("offset", 0)
        if type(offset) is not int or offset < 0:
            raise RequestError(
                "'offset' must be a whole number of jobs to skip, e.g. 0 for the newest or "
                "100 for the second page of 100"
            )
        text = data.get("text", "")
        if not isinstance(text, str):
            raise RequestError("'text' must be the words to search names and ids for, e.g. 'train'")
        found = pages.page(
            offset=offset,
            limit=limit,
            profile=profile or None,
            state=states or None,
            text=text,
            include_cleared=include,
        )
        self._watch_unwatched(found.rows)  # this page's only: the others are not shown
        return {
            "jobs": [_record(r) for r in found.rows],
            "total": found.total,
            "offset": found.offset,
            "cleared": found.cleared,
            "finished": found.finished,
            "profiles": ledger.profile_names(),
        }

    def _watch_unwatched(self, rows: list[ledger.JobRecord]) -> None:
        """Rows the ledger calls active that nobody in this kernel watches (the kernel that
        submitted them restarted or closed) are reattached here, in the background: their
        endings then reach the panel as events instead of a RUNNING that is no longer true.
        Each id is tried at most every REATTACH_EVERY seconds."""
        now = time.monotonic()
        for rec in rows:
            tried = self._reattached.get(rec.id)
            if (
                rec.state in _ACTIVE
                and rec.id not in live_objects
                and (tried is None or now - tried > REATTACH_EVERY)
            ):
                self._reattached[rec.id] = now
                self.conn.background(_reattach, rec.id)

    # -- job.event ------------------------------------------------------------------------
    def _on_event(self, event: events.JobEvent) -> None:
        array_id = event.extra.get("array_id")
        key = array_id or event.job_id
        with self._lock:
            self._pending[key] = {"array_id": array_id, "job_id": event.job_id, "event": event}

    def _flush_events(self) -> None:
        while not self._closed.wait(EVENT_INTERVAL):
            with self._lock:
                pending, self._pending = self._pending, {}
            if not pending:
                continue
            batch = []
            for key, item in pending.items():
                event: events.JobEvent = item["event"]
                if item["array_id"] and key in live_objects:
                    array = live_objects[key]
                    batch.append(
                        {
                            "id": key,
                            "name": array.name,
                            "submitted": array.submitted_at,
                            "profile": event.profile,
                            "kind": "array",
                            "state": array.state.value,
                            "reason": array.reason,
                            "counts": array.counts(),  # type: ignore[union-attr]
                            **usage_data(array.usage, array.usage_hint),
                        }
                    )
                else:
                    live = live_objects.get(event.job_id)
                    batch.append(
                        {
                            "id": event.job_id,
                            "name": live.name if live is not None else "",
                            "submitted": live.submitted_at if live is not None else None,
                            "profile": event.profile,
                            "kind": "job",
                            "state": event.state.value,
                            "reason": event.reason,
                            "native_id": event.native_id,
                            **(usage_data(live.usage, live.usage_hint) if live is not None else {}),
                            **(_attempt(live) if live is not None else {}),
                        }
                    )
            self.conn.send("job.event", {"events": batch, "time": time.time()})


def clear(data: dict[str, Any], rid: str) -> dict[str, Any]:
    """ "Clear finished": every finished job leaves every panel's list (not the ledger)."""
    return {"cleared": cleared_marks.clear_finished()}


def unclear(data: dict[str, Any], rid: str) -> dict[str, Any]:
    """ "Show N cleared": the cleared jobs are listed again."""
    return {"shown": cleared_marks.show_cleared()}


def open_topic(conn: Connection) -> Topic:
    topic = _JobsTopic(conn)
    return Topic(
        {
            "jobs.list": Request(topic.list_),
            "jobs.clear": Request(clear),
            "jobs.unclear": Request(unclear),
            "job.cancel": Request(cancel, slow=True),
        },
        close=topic.close,
    )
