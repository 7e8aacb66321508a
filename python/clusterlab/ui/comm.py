"""Kernel side of the ``clusterlab`` comm: the lab panel's only way to reach clusterlab.

Protocol (version 1, documented in docs/comm-protocol.md): every message is JSON
``{"v": 1, "type": ..., "id": ..., "data": ...}``. A request gets exactly one reply with
the same ``id`` and type ``<request type>.reply``, carrying ``ok`` and either ``data`` or
``error`` (``{"message", "fields"?}``). The kernel also pushes, unprompted, ``job.event``
(state changes, throttled), ``env.event`` (steps of an environment build, throttled;
:mod:`.envrelay`) and ``check.line`` (progress of a ``profiles.check``).

Nothing here blocks the kernel: requests that touch a cluster (check, cancel, logs) run
on a small thread pool and reply when done.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from .. import profiles
from ..common.errors import ClusterlabError, ProfileError
from ..common.usage import ArrayUsage, Usage
from ..config.profile import SCHEDULER_KINDS, Profile, schema
from ..core import events, ledger
from ..core.live import live as live_objects
from .envrelay import EnvEventRelay

PROTOCOL_VERSION = 1
TARGET = "clusterlab"
EVENT_INTERVAL = 0.25  # seconds: at most 4 event batches a second, whatever the job count

REATTACH_EVERY = 30.0  # seconds before an unwatched active job is reattached again
_ACTIVE = {"SUBMITTING", "PENDING", "RUNNING"}
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="clusterlab-comm")


class RequestError(Exception):
    """A request that cannot be served; becomes an ``ok: false`` reply."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


def _record(rec: ledger.JobRecord) -> dict[str, Any]:
    out = asdict(rec)
    out.pop("profile_json")
    out.pop("usage")  # absent until known, as in job.event entries
    out["elapsed"] = rec.elapsed
    return {**out, **_usage(rec.usage, rec.usage_hint)}


def _usage(usage: Usage | ArrayUsage | None, hint: str) -> dict[str, Any]:
    """What a job used, as data and as the sentence the panel shows (with a hint when
    its request was far off); empty until known."""
    if usage is None:
        return {}
    return {"usage": usage.to_dict(), "usage_text": str(usage), "usage_hint": hint}


class CommHandler:
    """Serves one comm (one panel connected to this kernel)."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self._ctx: contextvars.Context | None = None
        self._pending: dict[str, dict[str, Any]] = {}
        self._reattached: dict[str, float] = {}  # job id -> when this panel reattached it
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._unsubscribe = events.subscribe(self._on_event)
        self._flusher = threading.Thread(target=self._flush_events, daemon=True)
        self._flusher.start()
        self._env_relay = EnvEventRelay(self.send, EVENT_INTERVAL)  # env.event: builds
        comm.on_msg(self._on_msg)
        comm.on_close(lambda msg: self.close())
        self.handlers: dict[str, tuple[Callable[[dict[str, Any], str], Any], bool]] = {
            # type: (handler, slow)
            "hello": (self.hello, False),
            "profiles.list": (self.profiles_list, False),
            "profiles.get": (self.profiles_get, False),
            "profiles.validate": (self.profiles_validate, False),
            "profiles.save": (self.profiles_save, False),
            "profiles.delete": (self.profiles_delete, False),
            "profiles.check": (self.profiles_check, True),
            "jobs.list": (self.jobs_list, False),
            "job.cancel": (self.job_cancel, True),
            "job.logs": (self.job_logs, True),
            "job.result": (self.job_result, True),
        }

    # -- transport --------------------------------------------------------------------------
    def send(self, type_: str, data: Any = None, id_: str | None = None, **extra: Any) -> None:
        msg: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": type_, "id": id_, **extra}
        if data is not None:
            msg["data"] = data
        if self._closed.is_set():
            return
        # ipykernel 7 routes a comm's incoming messages to the shell that sent its last
        # outgoing one. Sending from our threads in the context of the panel's last request
        # keeps the panel's requests off the main shell, so they are answered while a
        # blocking cell (e.g. %%cluster) runs instead of queueing behind it.
        if self._ctx is not None:
            self._ctx.copy().run(self.comm.send, msg)
        else:
            self.comm.send(msg)

    def reply(self, request: dict[str, Any], data: Any) -> None:
        self.send(f"{request.get('type')}.reply", data, request.get("id"), ok=True)

    def reply_error(self, request: dict[str, Any], message: str, fields: Any = None) -> None:
        error = {"message": message, **({"fields": fields} if fields else {})}
        self.send(f"{request.get('type')}.reply", None, request.get("id"), ok=False, error=error)

    def _on_msg(self, msg: Any) -> None:
        self._ctx = contextvars.copy_context()
        content = msg.get("content") if isinstance(msg, dict) else None
        request = content.get("data") if isinstance(content, dict) else None
        self.handle(request)

    def handle(self, request: Any) -> None:
        """Validate and dispatch one request; bad messages get an error reply, never a crash."""
        if not isinstance(request, dict):
            self.send(
                "error", None, None, ok=False, error={"message": "a message must be an object"}
            )
            return
        version = request.get("v")
        if type(version) is not int or version != PROTOCOL_VERSION:  # not True, 1.0 or "1"
            self.reply_error(
                request,
                f"protocol version {request.get('v')!r} is not supported; this kernel speaks "
                f"version {PROTOCOL_VERSION}: update clusterlab in the kernel or the lab",
            )
            return
        if not isinstance(request.get("id"), str) or not request["id"]:
            self.reply_error(request, "every request needs a non-empty string 'id'")
            return
        entry = self.handlers.get(str(request.get("type")))
        if entry is None:
            known = ", ".join(sorted(self.handlers))
            self.reply_error(
                request, f"unknown request type {request.get('type')!r}; known: {known}"
            )
            return
        handler, slow = entry
        data = request.get("data")
        data = {} if data is None else data
        if not isinstance(data, dict):
            self.reply_error(request, "'data' must be an object")
            return
        if slow:
            _pool.submit(self._serve, handler, request, data)
        else:
            self._serve(handler, request, data)

    def _serve(
        self,
        handler: Callable[[dict[str, Any], str], Any],
        request: dict[str, Any],
        data: dict[str, Any],
    ) -> None:
        try:
            self.reply(request, handler(data, request["id"]))
        except RequestError as exc:
            self.reply_error(request, str(exc), exc.fields)
        except ProfileError as exc:
            self.reply_error(request, str(exc), exc.errors)
        except ClusterlabError as exc:
            self.reply_error(request, str(exc))
        except Exception as exc:  # reported to the panel, never raised in the kernel
            self.reply_error(request, f"{type(exc).__name__}: {exc}")

    # -- events -----------------------------------------------------------------------------
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
                            **_usage(array.usage, array.usage_hint),
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
                            **(_usage(live.usage, live.usage_hint) if live is not None else {}),
                        }
                    )
            self.send("job.event", {"events": batch, "time": time.time()})

    def close(self) -> None:
        self._closed.set()
        self._unsubscribe()
        self._env_relay.close()

    # -- requests ---------------------------------------------------------------------------
    def hello(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        from .._version import __version__

        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "schema": schema(),
            "schedulers": list(SCHEDULER_KINDS),
            "default_profile": profiles.default_name(),
        }

    def profiles_list(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        items = []
        for name in profiles.list():
            p = profiles.load(name)
            items.append({**asdict(p), "builtin": name == "local"})
        return {"profiles": items}

    def profiles_get(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        return {"profile": asdict(profiles.load(self._name(data)))}

    def profiles_validate(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        fields = data.get("profile")
        if not isinstance(fields, dict):
            raise RequestError("'profile' must be an object of profile fields")
        try:
            Profile.from_dict(fields)
        except ProfileError as exc:
            return {"valid": False, "errors": exc.errors}
        return {"valid": True, "errors": {}}

    def profiles_save(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        fields = data.get("profile")
        if not isinstance(fields, dict):
            raise RequestError("'profile' must be an object of profile fields")
        original = data.get("original")
        if original is not None and not isinstance(original, str):
            raise RequestError("'original' must be the old name of a renamed profile, e.g. 'hpc'")
        saved = profiles.save(Profile.from_dict(fields))
        # A rename: drop the old name, unless it is gone already (deleted elsewhere).
        if original and original not in (saved.name, "local") and original in profiles.list():
            profiles.delete(original)
        return {"profile": asdict(saved)}

    def profiles_delete(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        profiles.delete(self._name(data))
        return {}

    def profiles_check(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        if isinstance(data.get("profile"), dict):
            target: str | Profile = Profile.from_dict(data["profile"])
        else:
            target = self._name(data)

        def on_line(line: Any) -> None:
            self.send("check.line", {"request": rid, "line": asdict(line)})

        report = profiles.check(target, on_line=on_line)
        return {"report": report.to_dict()}

    def jobs_list(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
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
        rows = ledger.query(profile=profile or None, state=states or None)
        self._watch_unwatched(rows[:limit])
        return {"jobs": [_record(r) for r in rows[:limit]], "total": len(rows)}

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
                _pool.submit(self._reattach, rec.id)

    @staticmethod
    def _reattach(job_id: str) -> None:
        from ..jobs import job

        try:
            job(job_id)  # watched from now on; its watcher publishes what happens
        except ClusterlabError as exc:  # e.g. its host is unreachable: tried again later
            print(f"clusterlab: the panel cannot watch job {job_id}: {exc}", file=sys.stderr)

    def job_cancel(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        from ..jobs import job

        target = job(self._id(data))
        target.cancel()
        return {"id": target.id, "state": target.state.value}

    def job_logs(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        from ..core.array import ArrayJob
        from ..jobs import job
        from .job_logs import log_reply

        stream = data.get("stream", "stdout")
        if stream not in ("stdout", "stderr"):
            raise RequestError("'stream' must be 'stdout' or 'stderr'")
        target = job(self._id(data))
        if isinstance(target, ArrayJob):
            raise RequestError("logs belong to array items: ask for 'ARRAYID:INDEX'")
        before = data.get("before")
        if before is not None and (type(before) is not int or before < 0):
            raise RequestError("'before' must be a byte offset (a whole number >= 0)")
        return log_reply(target, stream, before)

    def job_result(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        """A finished job's value (repr) or traceback, for the panel (ui/job_result.py)."""
        from .job_result import result_text

        return result_text(self._id(data))

    @staticmethod
    def _required(data: dict[str, Any], key: str, what: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise RequestError(f"'{key}' ({what}) is required")
        return value

    def _name(self, data: dict[str, Any]) -> str:
        return self._required(data, "name", "a profile name")

    def _id(self, data: dict[str, Any]) -> str:
        return self._required(data, "id", "a job id")


_handlers: list[CommHandler] = []


def _open(comm: Any, open_msg: Any) -> None:
    _handlers.append(CommHandler(comm))


def register() -> None:
    """Register the comm target in this kernel (idempotent)."""
    from comm import get_comm_manager

    get_comm_manager().register_target(TARGET, _open)
