"""Live output: what a running job prints, brought back while it runs.

A :class:`Follower` remembers how far it has read a job's stdout and stderr. The watcher
reads the new bytes of every followed log in ONE round trip after each of its polls (on
its thread, on its schedule, at least every :data:`FOLLOW_INTERVAL`), so a blocking call,
``%%cluster``, ``job.stdout(follow=True)`` and ``clusterlab logs -f`` all show output as
it comes without a command per reader or a wait in the kernel's thread.

Where the connection has a status agent (:mod:`.agentlink`), the follower's logs are
pushed by it instead, like status lines: the bytes come as they are written, and the
watcher reads a log itself only when the agent says more was waiting than its per-job cap
(``"more"``), or while no agent runs. Pushed bytes and read bytes go through the same
offsets, so a log is shown in order, complete and once whichever brought it.
"""

from __future__ import annotations

import codecs
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...common import jobdir

if TYPE_CHECKING:
    from ...transports.base import Transport
    from ..model.job import Job
    from .watcher import Watcher

FOLLOW_INTERVAL = 1.0  # seconds between two reads of followed logs, whatever poll_interval
STREAMS = ("stdout", "stderr")


class Follower:
    """New text of one job's logs, in the order it was read; ``(stream, text)`` chunks."""

    def __init__(
        self,
        job: Job,
        streams: tuple[str, ...] = STREAMS,
        start: int = 0,
        keep: int | None = None,
        arrived: threading.Event | None = None,
    ) -> None:
        """``start``: the byte to follow from (a reader that already shows the log up to
        there). ``keep``: hold at most that many of the latest raw bytes per stream for
        :meth:`take_bytes` instead of decoded chunks (the lab panel's follow, which needs
        byte offsets and must not grow without bound while its pushes are throttled).
        ``arrived``: an event to set with each chunk (one for many followers)."""
        self.job = job
        task = job.task if job.array_id else None  # an item follows its task's log
        self.paths = {s: f"{job.job_dir}/{jobdir.log_file(s, task)}" for s in streams}
        self.offsets = dict.fromkeys(streams, start)
        self._decoders = {s: codecs.getincrementaldecoder("utf-8")("replace") for s in streams}
        self.chunks: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._keep = keep
        self._raw: dict[str, bytearray] = {s: bytearray() for s in streams}
        # set with each chunk: the reader shows it at once
        self.arrived = arrived if arrived is not None else threading.Event()
        self._lock = threading.Lock()
        self.pushed = False  # the agent was asked to push these logs (agentlink)
        self.closed = False  # unfollowed: never pushed again
        self.behind: set[str] = set()  # streams the agent paused: the watcher reads them
        self.end_sizes: dict[str, int] | None = None  # its logs at its end (agent pushed)
        self.pushed_bytes = 0  # bytes that came pushed (tests and the bench count them)

    @property
    def current(self) -> bool:
        """Its logs come pushed: the watcher need not read them."""
        return self.pushed and not self.behind

    def stream_of(self, path: str) -> str | None:
        return next((s for s, p in self.paths.items() if p == path), None)

    def offset_of(self, stream: str) -> int:
        with self._lock:
            return self.offsets[stream]

    def take_pushed(self, stream: str, start: int, data: bytes, more: bool) -> bool:
        """Bytes the agent pushed from ``start`` of ``stream``; True when the watcher must
        now read that log itself (the agent paused it, or bytes went missing)."""
        with self._lock:
            offset = self.offsets[stream]
            if start > offset:  # a gap (an agent restarted mid-way): read it
                self.behind.add(stream)
                return True
            fresh = data[offset - start :]  # (bytes a read already brought are skipped)
            if fresh:
                self.pushed_bytes += len(fresh)
                self._took(stream, fresh)
            if more:
                self.behind.add(stream)
            return more

    def caught_up(self) -> dict[str, int]:
        """The streams that were behind, now read: ``{stream: offset}`` to resume them at."""
        with self._lock:
            resumed = {s: self.offsets[s] for s in self.behind}
            self.behind.clear()
            return resumed

    def ranges(self) -> list[tuple[str, int, int | None]]:
        with self._lock:
            return [(self.paths[s], self.offsets[s], None) for s in self.paths]

    def feed(
        self, asked: list[tuple[str, int, int | None]], found: list[tuple[int, bytes] | None]
    ) -> None:
        """Take what a read of ``asked`` (from :meth:`ranges`) found, in the same order.
        The watcher and a final read may overlap: bytes from a passed offset are dropped."""
        with self._lock:
            for stream, (_, start, _), got in zip(self.paths, asked, found, strict=True):
                if got and got[1] and start == self.offsets[stream]:
                    self._took(stream, got[1])

    def _took(self, stream: str, fresh: bytes) -> None:
        """``fresh`` bytes of ``stream`` from its offset on (the caller holds the lock).
        Nothing is shown once unfollowed (a push already on its way when it was)."""
        if self.closed:
            return
        self.offsets[stream] += len(fresh)
        if self._keep is not None:
            raw = self._raw[stream]
            raw += fresh
            if len(raw) > self._keep:  # the reader shows the end; earlier bytes it can read
                del raw[: len(raw) - self._keep]
            self.arrived.set()
            return
        text = self._decoders[stream].decode(fresh)
        if text:
            self.chunks.put((stream, text))
            self.arrived.set()

    def take_bytes(self, stream: str) -> tuple[int, bytes]:
        """``(where they start, the bytes)`` of ``stream`` that came since the last call
        (only with ``keep``): at most ``keep`` bytes, the latest; a start past the end of
        the previous ones says bytes were left out (the reader reads them by offset)."""
        with self._lock:
            raw = self._raw[stream]
            data = bytes(raw)
            raw.clear()
            return self.offsets[stream] - len(data), data

    def has_all(self) -> bool:
        """Whether every followed log is read up to its size when the job ended (pushed by
        the status agent, keyed by log file name): then no last read is needed."""
        sizes = self.end_sizes
        if sizes is None:
            return False
        names = {s: p.rsplit("/", 1)[-1] for s, p in self.paths.items()}
        with self._lock:
            return all(self.offsets[s] >= sizes.get(names[s], 0) for s in self.paths)

    def read_now(self, transport: Transport) -> None:
        """One read in the caller's thread (the last output of a job that ended)."""
        while True:
            asked = self.ranges()
            found = transport.read_ranges(asked)
            self.feed(asked, found)
            if all(not got or not got[1] for got in found):
                return  # a log longer than one read takes several

    def drain(self) -> Iterator[tuple[str, str]]:
        """The chunks read so far, oldest first."""
        self.arrived.clear()  # (before taking: a chunk put meanwhile sets it again)
        while True:
            try:
                yield self.chunks.get_nowait()
            except queue.Empty:
                return


def read_followed(transport: Transport, followers: list[Follower]) -> None:
    """New output of every follower, in one round trip."""
    asked = [f.ranges() for f in followers]
    found = transport.read_ranges([r for ranges in asked for r in ranges])
    for follower, ranges in zip(followers, asked, strict=True):
        follower.feed(ranges, found[: len(ranges)])
        found = found[len(ranges) :]


def follow_output(
    watcher: Watcher, transport: Transport, job: Job, streams: tuple[str, ...] = STREAMS
) -> Iterator[tuple[str, str]]:
    """``(stream, text)`` as ``job`` writes it, until it ended and its last output is read.

    Waiting happens in the caller (it asked to follow); the reads happen on ``watcher``'s
    thread, except the last one, made once the job ended (``job.host.follow_output``)."""
    follower = watcher.follow(job, streams)
    job.add_done_callback(lambda _: follower.arrived.set())
    try:
        while True:
            ended = job.done()  # before reading, so the read after it is the complete one
            if ended and not follower.has_all():
                follower.read_now(transport)
            yield from follower.drain()
            if ended:
                return
            follower.arrived.wait(FOLLOW_INTERVAL / 2)  # a chunk, the job's end, or a look
    finally:
        watcher.unfollow(follower)
