"""``job.follow`` / ``job.unfollow``: a running job's new output pushed to the panel's log
view as ``job.output`` messages, instead of the view asking ``job.logs`` again every 2 s.

The bytes come from the same follow the notebook's ``job.stdout(follow=True)`` uses
(:mod:`clusterlab.core.watching.follow`): pushed by the status agent as the job writes
them, read by the watcher where no agent runs or past the agent's per-job cap. Here they
are throttled like ``job.event``: one message per log at most every ``EVENT_INTERVAL``,
with at most ``OUTPUT_BYTES`` of it; when more came in one interval, the message carries
the latest bytes and its ``offset`` says where they start, so the view shows the end of
the log and can read what it skipped with ``job.logs``'s ``before``. Every message says
its byte range, so nothing is shown twice. A follow ends when the panel unfollows, when
the job ended and its last output was sent, or when the comm closes: nothing is left
following.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .logs import log_item, log_rank, log_stream
from .topic import EVENT_INTERVAL, Connection, Request, RequestError, Topic, job_id

if TYPE_CHECKING:
    from ...core.model.job import Job
    from ...core.runtime import Runtime
    from ...core.watching.follow import Follower

OUTPUT_BYTES = 64 * 1024  # at most this much of one log per job.output message
MAX_FOLLOWS = 16  # logs one panel connection follows at once; others are polled
Key = tuple[str, str, int]  # (job id, stream, rank)


@dataclass
class _Follow:
    job: Job
    runtime: Runtime
    follower: Follower
    stream: str
    rank: int
    sent: int  # the byte after the last one sent
    held: bytes = b""  # the start of a character cut at the end of the last bytes


def _whole_chars(data: bytes) -> int:
    """How many leading bytes of ``data`` end at a character boundary (a multi-byte UTF-8
    character cut at the end is held back until its other bytes come)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: complete if its sequence fits in what follows it
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)


def _from_char(data: bytes) -> int:
    """Where the first whole character of ``data`` starts (after continuation bytes)."""
    cut = 0
    while cut < min(3, len(data)) and 0x80 <= data[cut] < 0xC0:
        cut += 1
    return cut


def cannot_follow(target: Job, rank: int) -> str:
    """Why ``target``'s log cannot be followed ('' when it can); the view polls it then."""
    from ...core.runtime import Runtime

    if target.array_id:
        return (
            "an array item's output shares its task's log with other items, so the view "
            "reads it again every 2 s instead of following it"
        )
    if rank:
        return (
            f"rank {rank} writes its own log, which is not followed: the view reads it "
            "again every 2 s"
        )
    if target.done():
        return f"job {target.id} has ended ({target.state.value}): its log is complete"
    if not isinstance(target.engine, Runtime):
        return "this job's runtime cannot follow output: the view reads it again every 2 s"
    return ""


class Output:
    """One panel connection's followed logs and the thread that sends their output."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._follows: dict[Key, _Follow] = {}
        self._wake = threading.Event()  # set with each arrived chunk and each job's end
        self._closed = False
        self._thread: threading.Thread | None = None

    def follow(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        from ...core.watching.follow import Follower

        stream = log_stream(data.get("stream", "stdout"))
        rank = log_rank(data.get("rank", 0))
        offset = data.get("offset", 0)
        if type(offset) is not int or offset < 0:
            raise RequestError(
                "'offset' must be a byte offset (a whole number >= 0): the size of the log "
                "the view already shows"
            )
        target = log_item(data, rank)
        reply = {"id": target.id, "stream": stream, "rank": rank, "offset": offset}
        reason = cannot_follow(target, rank)
        key = (target.id, stream, rank)
        self.unfollow_keys([key])  # following again (the view reopened): from its offset
        with self._lock:
            if not reason and self._closed:
                reason = "the panel's connection to this kernel closed"
            if not reason and len(self._follows) >= MAX_FOLLOWS:
                reason = (
                    f"this panel follows {MAX_FOLLOWS} logs already: this one is read again "
                    "every 2 s"
                )
            if reason:
                return {**reply, "following": False, "reason": reason}
            runtime = cast("Runtime", target.engine)  # (cannot_follow checked it)
            follower = Follower(
                target, (stream,), start=offset, keep=OUTPUT_BYTES, arrived=self._wake
            )
            self._follows[key] = _Follow(target, runtime, follower, stream, rank, offset)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="clusterlab-comm-output", daemon=True
                )
                self._thread.start()
        runtime.watcher.attach(follower)
        target.add_done_callback(lambda _: self._wake.set())
        return {**reply, "following": True}

    def unfollow(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        """Stop following ``id``'s logs (one ``stream``/``rank`` when given, else all)."""
        wanted = job_id(data)
        stream, rank = data.get("stream"), data.get("rank")
        if stream is not None:
            log_stream(stream)
        if rank is not None:
            log_rank(rank)
        with self._lock:
            keys = [
                k
                for k in self._follows
                if k[0] == wanted
                and (stream is None or k[1] == stream)
                and (rank is None or k[2] == rank)
            ]
        return {"id": wanted, "stopped": self.unfollow_keys(keys)}

    def unfollow_keys(self, keys: list[Key]) -> int:
        with self._lock:
            gone = [f for f in (self._follows.pop(k, None) for k in keys) if f is not None]
        for follow in gone:
            follow.runtime.watcher.unfollow(follow.follower)
        return len(gone)

    def close(self) -> None:
        """The comm closed: unfollow everything; the thread ends at its next look."""
        with self._lock:
            self._closed = True
            keys = list(self._follows)
        self.unfollow_keys(keys)
        self._wake.set()

    def following(self) -> list[Key]:
        with self._lock:
            return list(self._follows)

    def _run(self) -> None:
        while True:
            self._wake.wait(1.0)  # (a job's end also sets it; the timeout is a safety net)
            self._wake.clear()
            with self._lock:
                follows = list(self._follows.items())
                if not follows:
                    self._thread = None
                    return
            for key, follow in follows:
                try:
                    self._send(key, follow)
                except Exception as exc:  # reported to the view; goes on while it runs
                    ended = follow.job.done()
                    self.conn.send(
                        "job.output",
                        {
                            "id": key[0],
                            "stream": key[1],
                            "rank": key[2],
                            "error": f"{type(exc).__name__}: {exc}",
                            "ended": ended,
                        },
                    )
                    if ended:  # (never left following a job that ended)
                        self.unfollow_keys([key])
            time.sleep(EVENT_INTERVAL)  # throttle: what comes meanwhile goes in one message

    def _send(self, key: Key, follow: _Follow) -> None:
        """Send what came of one followed log; after a job's end, its last output and the
        end of the follow."""
        with self._lock:
            if self._follows.get(key) is not follow:  # unfollowed meanwhile: sends nothing
                return
        ended = follow.job.done()  # before the last read, so that read is complete
        if ended:
            follow.follower.read_now(follow.runtime.transport)
        start, data = follow.follower.take_bytes(follow.stream)
        if follow.held and start == follow.sent + len(follow.held):
            start, data = follow.sent, follow.held + data
        follow.held = b""
        if len(data) > OUTPUT_BYTES:  # more than a message holds: the latest, at a char
            cut = len(data) - OUTPUT_BYTES
            cut += _from_char(data[cut:])
            start, data = start + cut, data[cut:]
        elif start > follow.sent and data:  # bytes left out before these: start at a char
            cut = _from_char(data)
            start, data = start + cut, data[cut:]
        whole = len(data) if ended else _whole_chars(data)
        data, follow.held = data[:whole], data[whole:]
        if data or ended:
            end = start + len(data) if data else follow.sent
            self.conn.send(
                "job.output",
                {
                    "id": key[0],
                    "stream": key[1],
                    "rank": key[2],
                    "offset": start if data else end,
                    "end": end,
                    "text": data.decode("utf-8", "replace"),
                    "ended": ended,
                    **({"state": follow.job.state.value} if ended else {}),
                },
            )
            follow.sent = end
        if ended:
            self.unfollow_keys([key])


def open_topic(conn: Connection) -> Topic:
    output = Output(conn)
    return Topic(
        {
            "job.follow": Request(output.follow, slow=True),
            "job.unfollow": Request(output.unfollow),
        },
        close=output.close,
    )
