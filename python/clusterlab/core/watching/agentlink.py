"""Push: the status lines of running jobs, streamed by an agent on the cluster side.

Without push the kernel learns that a job started or ended at its next poll, so a job's
latency is set by the poll schedule (0.25 s backing off to ``poll_interval``). With it,
one long-lived agent per connection (:mod:`clusterlab.remote.agent`, stdlib only, started
on an exec channel of the SSH connection, or as a subprocess for the local transport)
follows the status files of the watched job dirs and prints each new line at once;
:class:`Push` feeds it the job dirs of every runtime (profile) on that connection and
hands each batch of lines to the watcher of the runtime that owns the dir, which settles
that job (and downloads its result) at once. :class:`PushHandle` is a runtime's view of
it (``runtime.push``). The scheduler is then asked only on the gentle interval, for what
only it knows (pending reasons, vanished jobs). If the agent cannot start or stops, this
is said once on stderr and the watcher polls; a job never fails because of the agent.

Followed output (:mod:`.follow`) comes the same way, kept by :mod:`.agentlogs`
(``Push.logs``).
"""

from __future__ import annotations

import atexit
import json
import posixpath
import queue
import sys
import threading
import time
from collections.abc import Iterator
from importlib import resources as importlib_resources
from typing import TYPE_CHECKING, Any

from .agentlogs import FollowedLogs
from .agentresults import PushedItem, hand_out, pushed_item, take_end
from .agentslots import give_slot, take_slot
from .agentstatus import pushed_observation

if TYPE_CHECKING:
    from ...transports.base import Transport
    from ...transports.stream import Stream
    from ..runtime import Runtime

AGENT_SOURCE = importlib_resources.files("clusterlab.remote").joinpath("agent.py").read_text()
START_PATIENCE = 5.0  # seconds an agent may take to start before the watcher polls again
RETRY_AFTER = 60.0  # seconds before an agent that stopped is started again
IDLE_STOP = 15.0  # seconds without watched jobs before the agent is stopped
INBOX_LINES = 10_000  # pushed lines waiting to be settled, at most
HELLO_WITHIN = 200  # lines of setup output (module load banners) before the agent's hello
_exiting = threading.Event()
atexit.register(_exiting.set)  # connections closing at exit end agents: nothing to say


def _hello(lines: Iterator[bytes]) -> dict[str, Any] | None:
    """The agent's first JSON line, past whatever the profile's setup lines printed."""
    for _, line in zip(range(HELLO_WITHIN), lines, strict=False):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "agent" in record:
            return record
    return None


def _close_later(stream: Stream) -> None:
    """Close a retired agent off the caller's thread (the kernel's: closing waits a
    moment for the agent to exit)."""
    threading.Thread(target=stream.close, name="clusterlab-push-close", daemon=True).start()


class Push:
    """The status agent of one connection: started lazily, fed the job dirs of every
    runtime on it, each line handed to the watcher of the runtime that owns its dir."""

    def __init__(self, transport: Transport, prefix: list[str]) -> None:
        self.transport = transport
        self._prefix = prefix  # sh -c PREAMBLE sh PYTHON...: the agent's source and roots follow
        self.live = False  # the agent is up and reading: the watcher polls gently
        self.pid: int | None = None  # the agent's process id (on the cluster side)
        self.inotify: bool | None = None  # what the agent follows files with
        self.lines = 0  # status lines received (tests and the bench count them)
        self.stopped_reason = ""  # why the last agent stopped ('' while none did)
        self._lock = threading.Lock()
        self._owners: dict[str, Runtime] = {}  # job dir -> the runtime whose watcher has it
        self._files: dict[str, dict[str, bytearray]] = {}  # dir -> file -> bytes so far
        self._snaps: dict[str, dict[str, bytes]] = {}  # copies of _files, redone when touched
        self._stream: Stream | None = None
        self._roots: set[str] = set()  # jobs roots the agent may follow dirs under
        self._generation = 0  # bumped when the running agent is retired on purpose
        self._starting = False
        self._starting_since = 0.0
        self._closed = False
        self._failed_at = float("-inf")
        self._said = False
        self._idle_timer: threading.Timer | None = None
        self.logs = FollowedLogs(self._lock, self._send, lambda: self.live, self._roots)

    # -- what the runtimes' handles call ----------------------------------------------------
    def watch_many(self, job_dirs: list[str], runtime: Runtime) -> None:
        """Follow these job dirs of ``runtime`` (starting the agent if needed)."""
        retired: Stream | None = None
        with self._lock:
            self._closed = False
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            new = [d for d in dict.fromkeys(job_dirs) if d not in self._owners]
            self._owners.update(dict.fromkeys(job_dirs, runtime))
            roots = {posixpath.dirname(d) for d in job_dirs} - self._roots
            if roots:  # (a jobs root this agent was not started with)
                self._roots.update(roots)
                if self._stream is not None:
                    retired = self._retire()
                elif self._starting:  # it was started without this root: start it again
                    self._generation += 1  # (_start sees it and starts one with every root)
            if self.live and new:
                self._send("\n".join(f"watch {d}" for d in new))
            elif self._may_start() and take_slot(self.transport):
                self._starting, self._starting_since = True, time.monotonic()
                overdue = threading.Timer(START_PATIENCE, self._start_overdue)
                overdue.daemon = True
                overdue.start()
                threading.Thread(
                    target=self._serve,
                    name=f"clusterlab-push-{self.transport.label}",
                    daemon=True,
                ).start()
        if retired is not None:
            _close_later(retired)

    @property
    def pushing(self) -> bool:
        """Status lines are (or are about to be) pushed: the watcher need not poll for
        them. True while the agent runs, and for :data:`START_PATIENCE` while it starts
        (a poll racing its start would only ask the scheduler again)."""
        return self.live or (
            self._starting and time.monotonic() - self._starting_since < START_PATIENCE
        )

    def _watchers_reset(self) -> None:
        """Every runtime with dirs here polls now (what would have been pushed is not)."""
        with self._lock:
            runtimes = {id(r): r for r in self._owners.values()}
        for runtime in runtimes.values():
            runtime.watcher.reset()

    def _start_overdue(self) -> None:
        """An agent still starting after :data:`START_PATIENCE`: poll meanwhile."""
        if self._starting and not self.live:
            self._watchers_reset()

    def _may_start(self) -> bool:
        """Not running, not starting, and not stopped within :data:`RETRY_AFTER`."""
        return (
            not self.live
            and not self._starting
            and time.monotonic() - self._failed_at >= RETRY_AFTER
        )

    def unwatch(self, job_dir: str, runtime: Runtime) -> None:
        """Stop following ``job_dir`` once no watched unit of ``runtime`` lives in it."""
        if runtime.watcher.units_in(job_dir):
            return
        with self._lock:
            if self._owners.get(job_dir) is not runtime:
                return
            self._drop([job_dir])

    def detach(self, runtime: Runtime) -> None:
        """``runtime`` is done with the agent: its dirs are dropped, and the agent stops
        at once when no runtime has dirs left (it exits when its stdin closes)."""
        stream = None
        with self._lock:
            self._drop([d for d, r in self._owners.items() if r is runtime])
            if not self._owners:
                self._closed = True
                stream = self._retire()
        if stream is not None:
            _close_later(stream)

    def _drop(self, job_dirs: list[str]) -> None:
        """Forget dirs (caller holds the lock); idle stop once none is left."""
        for job_dir in job_dirs:
            del self._owners[job_dir]
            self._files.pop(job_dir, None)
            self._snaps.pop(job_dir, None)
        if self.live and job_dirs:
            self._send("\n".join(f"unwatch {d}" for d in job_dirs))
        if not self._owners and self._stream is not None and self._idle_timer is None:
            self._idle_timer = threading.Timer(IDLE_STOP, self._stop_idle)
            self._idle_timer.daemon = True
            self._idle_timer.start()

    def close(self) -> None:
        """Stop the agent (it exits when its stdin closes)."""
        with self._lock:
            self._closed = True
            stream = self._retire()
        if stream is not None:
            _close_later(stream)

    def _retire(self) -> Stream | None:
        """Take the running agent out of service on purpose (caller holds the lock and
        closes the returned stream outside it)."""
        self._generation += 1
        stream, self._stream = self._stream, None
        self.live = False
        self._files, self._snaps = {}, {}
        return stream

    # -- the agent ------------------------------------------------------------------------------
    def _argv(self, roots: list[str]) -> list[str]:
        return [*self._prefix, "-c", AGENT_SOURCE, *roots]

    def _send(self, command: str) -> None:
        """One command line to the agent (caller holds the lock); a failure ends it."""
        try:
            assert self._stream is not None
            self._stream.write(command.encode() + b"\n")
        except Exception as exc:
            self.live = False
            self.stopped_reason = f"could not write to it ({exc})"

    def _start(self) -> tuple[Stream, int, Iterator[bytes]] | None:
        """Start an agent and put it in service (None: closed meanwhile, nothing wanted)."""
        while True:
            with self._lock:
                gen, roots = self._generation, sorted(self._roots)
            stream = self.transport.open_stream(self._argv(roots))
            try:
                lines = stream.lines()
                hello = _hello(lines)
                if hello is None:
                    stream.close()  # (waits for its stderr, which says why)
                    why = stream.stderr_text()[-300:] or "it did not say it was ready"
                    raise RuntimeError(why)
            except BaseException:
                stream.close()
                raise
            with self._lock:
                if gen == self._generation:
                    self._stream, self.live, self._starting = stream, True, False
                    self._said = False  # a later failure is said again, once
                    self.pid, self.inotify = int(hello.get("pid", 0)), bool(hello.get("inotify"))
                    if self._owners:
                        self._send("\n".join(f"watch {d}" for d in sorted(self._owners)))
                    if commands := self.logs.commands():
                        self._send(commands)
                    return stream, gen, lines
                closed = self._closed
                if closed:
                    self._starting = False
            stream.close()  # retired while it started (closed, or a new jobs root)
            if closed:
                return None

    def _serve(self) -> None:
        """Start the agent, then hand its lines to :meth:`_settle_loop` until it ends."""
        try:
            self._serve_once()
        finally:
            give_slot(self.transport)

    def _serve_once(self) -> None:
        stream: Stream | None = None
        gen = -1
        try:
            started = self._start()
            if started is None:
                return
            stream, gen, lines = started
            # bounded: a slow settle holds the reader (and the agent) back
            inbox: queue.Queue[bytes | None] = queue.Queue(maxsize=INBOX_LINES)
            settler = threading.Thread(
                target=self._settle_loop,
                args=(inbox,),
                name=f"clusterlab-push-settle-{self.transport.label}",
                daemon=True,
            )
            settler.start()
            for line in lines:
                inbox.put(line)
            inbox.put(None)
            settler.join()
            stream.close()  # (waits for its stderr, which may say why it ended)
            why = stream.stderr_text()[-300:] or "its connection closed"
        except Exception as exc:
            why = str(exc) or type(exc).__name__
        with self._lock:
            if stream is None:  # it never started
                self._starting = False
            deliberate = stream is not None and gen != self._generation
            was_live = stream is not None and not deliberate
            if not deliberate:
                self._stream = None
                self.live = False
                self._files, self._snaps = {}, {}
                self._failed_at = time.monotonic()
                self.stopped_reason = why
        if stream is not None:
            stream.close()
        if deliberate or _exiting.is_set():
            return
        if not self._said:
            self._said = True
            what = "stopped" if was_live else "could not start"
            print(
                f"clusterlab: the status agent on {self.transport.label} {what} ({why}); "
                "falling back to polling the scheduler (every poll_interval of the profile "
                "at most). Jobs are not affected.",
                file=sys.stderr,
            )
        self._watchers_reset()

    def _stop_idle(self) -> None:
        with self._lock:
            if self._owners or self._idle_timer is None:
                return
            self._idle_timer = None
        self.close()

    def _settle_loop(self, inbox: queue.Queue[bytes | None]) -> None:
        """Take every line that has arrived, then settle every job they touched together:
        one parse per burst, one download for the results of jobs that ended together."""
        while True:
            batch = [inbox.get()]
            while not inbox.empty():
                batch.append(inbox.get())
            try:  # this thread must not die: the reader would then wait on it forever
                behind: list[Runtime] = []
                touched = self._take([b for b in batch if b is not None], behind)
                for runtime in {id(r): r for r in behind}.values():
                    runtime.watcher.nudge()  # it reads what the agent left (its cap)
                if touched:
                    self._settle(touched)
            except Exception as exc:  # the next poll settles them: say why, keep going
                print(f"clusterlab: a pushed status could not be used: {exc!r}", file=sys.stderr)
            if None in batch:
                return

    def _take(
        self, raw: list[bytes], behind: list[Runtime] | None = None
    ) -> dict[str, dict[str, bytes]]:
        """Append pushed lines to the files they belong to, hand log pieces to their
        followers; the touched files' contents (``behind`` gets the runtimes whose watcher
        must read a log the agent paused)."""
        records = self.logs.sort(raw, [] if behind is None else behind)
        touched: dict[str, set[str]] = {}
        items: list[PushedItem | None] = []
        with self._lock:
            for record in records:
                if "refused" in record:
                    print(
                        f"clusterlab: the status agent refused {record['refused']!r}: "
                        f"{record.get('why')}",
                        file=sys.stderr,
                    )
                    continue
                job_dir, name = str(record.get("dir", "")), str(record.get("file", ""))
                if job_dir not in self._owners:
                    continue
                if "item" in record:  # an array item's small result, before its end
                    items.append(pushed_item(self._owners[job_dir], job_dir, record))
                    continue
                if "end" in record:  # its logs' sizes and small result, before its end
                    ended = take_end(self._files.setdefault(job_dir, {}), record)
                    touched.setdefault(job_dir, set()).update(ended)
                    continue
                data = self._files.setdefault(job_dir, {}).setdefault(name, bytearray())
                if record.get("offset") != len(data):  # a repeat (or a gap: polls cover it)
                    continue
                data += str(record.get("line", "")).encode() + b"\n"
                self.lines += 1
                touched.setdefault(job_dir, set()).add(name)
            for job_dir, names in touched.items():  # only touched files are copied again
                snaps = self._snaps.setdefault(job_dir, {})
                snaps.update({n: bytes(self._files[job_dir][n]) for n in names})
            out = {d: dict(self._snaps[d]) for d in touched}
        hand_out(items)  # (before the lines are settled: their results are there)
        return out

    def _settle(self, touched: dict[str, dict[str, bytes]]) -> None:
        """Settle the touched dirs' jobs, each runtime's together (one result download)."""
        with self._lock:
            owners = {d: self._owners.get(d) for d in touched}
        by_runtime: dict[int, tuple[Runtime, list[str]]] = {}
        for job_dir, runtime in owners.items():
            if runtime is not None:
                by_runtime.setdefault(id(runtime), (runtime, []))[1].append(job_dir)
        for runtime, dirs in by_runtime.values():
            watcher = runtime.watcher
            units, observations = [], {}
            for job_dir in dirs:
                for u in watcher.units_in(job_dir):
                    units.append(u)
                    observations[u.native_id] = pushed_observation(
                        u, watcher.last_seen.get(u.native_id), touched[job_dir]
                    )
            if units:
                runtime.backend.annotate(observations)
                watcher.settle(units, observations)
