"""The comm's router: the message envelope, dispatch of a request to its topic's handler,
the one reply per request, and pushes. What each request does lives in the topic modules
listed in :mod:`.registry`; this module knows no request type.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
from collections.abc import Callable
from typing import Any

from ...common.errors import ClusterlabError, ProfileError
from . import registry
from .topic import PROTOCOL_VERSION, Request, RequestError, Topic

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="clusterlab-comm")


class CommHandler:
    """Serves one comm (one panel connected to this kernel): opens every topic for it and
    routes the panel's requests to them."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self._ctx: contextvars.Context | None = None
        self._closed = threading.Event()
        self._topics: list[Topic] = [open_topic(self) for open_topic in registry.TOPICS]
        self.handlers: dict[str, Request] = {}
        for topic in self._topics:
            self.handlers.update(topic.requests)
        comm.on_msg(self._on_msg)
        comm.on_close(lambda msg: self.close())

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

    def background(self, fn: Callable[..., Any], *args: Any) -> None:
        _pool.submit(fn, *args)

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
        data = request.get("data")
        data = {} if data is None else data
        if not isinstance(data, dict):
            self.reply_error(request, "'data' must be an object")
            return
        if entry.slow:
            _pool.submit(self._serve, entry, request, data)
        else:
            self._serve(entry, request, data)

    def _serve(self, entry: Request, request: dict[str, Any], data: dict[str, Any]) -> None:
        try:
            self.reply(request, entry.serve(data, request["id"]))
        except RequestError as exc:
            self.reply_error(request, str(exc), exc.fields)
        except ProfileError as exc:
            self.reply_error(request, str(exc), exc.errors)
        except ClusterlabError as exc:
            self.reply_error(request, str(exc))
        except Exception as exc:  # reported to the panel, never raised in the kernel
            self.reply_error(request, f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self._closed.set()
        for topic in self._topics:
            topic.close()
