"""A progress bar in the notebook while a synced environment builds (``environment="sync"``).

The build runs in the submitting call, before the job exists, and can take minutes: the
bar says which step it is at and for how long. It is shown under the cell that submitted
(displayed by the first event, on the submitting thread), then redrawn by its own thread
at most every :data:`INTERVAL` seconds (events only mark it dirty; the elapsed time ticks
without events) until the build is ready or failed. The stderr lines stay: they are the
build's log, and what a terminal shows.
"""

from __future__ import annotations

import html
import threading
import time

import ipywidgets as w

from ...core import envevents
from ...core.envevents import EnvEvent

INTERVAL = 0.5


class EnvBuildBar:
    """One build's bar, fed by its events."""

    def __init__(self, first: EnvEvent) -> None:
        self.event = first
        self.redraws = 0
        self.bar = w.IntProgress(value=first.done, min=0, max=first.total)
        self.label = w.HTML()
        self.widget = w.HBox([self.bar, self.label])
        self._dirty = threading.Event()
        self._lock = threading.Lock()
        self.draw()

    def update(self, event: EnvEvent) -> None:
        """A newer step of this build (quick: the redraw thread does the drawing)."""
        with self._lock:
            self.event = event
        self._dirty.set()

    def draw(self) -> None:
        with self._lock:
            e = self.event
        took = (e.time if e.finished else time.time()) - e.started
        self.bar.max, self.bar.value = e.total, e.total if e.phase == "ready" else e.done
        self.bar.bar_style = {"ready": "success", envevents.FAILED: "danger"}.get(e.phase, "info")
        self.label.value = (
            f"<span class='clusterlab-envbar'>environment <code>{html.escape(e.env)}</code> "
            f"on {html.escape(e.profile)}: <b>{html.escape(e.phase)}</b> "
            f"({e.done}/{e.total}) {html.escape(e.message)} <small>{took:.0f} s</small></span>"
        )
        self.redraws += 1

    def run(self) -> None:
        """Redraw until the build has finished (then once more, with the final step)."""
        while True:
            self._dirty.wait(INTERVAL)
            self._dirty.clear()
            self.draw()
            if self.event.finished:
                return
            time.sleep(INTERVAL)  # throttle: at most one redraw per interval


class EnvBars:
    """Shows a bar for each build this kernel starts (subscribed to build events)."""

    def __init__(self, show: bool = True) -> None:
        self.bars: dict[tuple[str, str], EnvBuildBar] = {}
        self._show = show
        self._lock = threading.Lock()
        self.unsubscribe = envevents.subscribe(self.on_event)

    def on_event(self, event: EnvEvent) -> None:
        key = (event.profile, event.env)
        with self._lock:
            bar = self.bars.get(key)
            if bar is None or bar.event.finished:  # a new build (or a retry after a failure)
                bar = self.bars[key] = EnvBuildBar(event)
                if self._show:
                    from IPython.display import display

                    display(bar.widget)  # type: ignore[no-untyped-call]
                threading.Thread(target=bar.run, daemon=True, name="clusterlab-envbar").start()
                return
        bar.update(event)


_installed: EnvBars | None = None


def register() -> EnvBars:
    """In a kernel: show a bar for every environment build (once per process)."""
    global _installed
    if _installed is None:
        _installed = EnvBars()
    return _installed
