"""``cl.monitor()``: a live ipywidgets table of the jobs in the ledger (every kernel's).

Redraws are driven by job events and throttled (at most ``REDRAW_INTERVAL`` apart,
whatever the number of jobs); jobs of other kernels are picked up by a slow ledger read.
Buttons never block the kernel: cancel, logs and results run on a thread pool.
"""

from __future__ import annotations

import concurrent.futures
import html
import threading
import time
from typing import Any

import ipywidgets as w

from ...common.style import STATE_COLOURS, elapsed_text, progress_bar
from ...core.ledger import store as ledger
from ...core.ledger.store import JobRecord
from ...core.model import events

_GRID = "display:grid;grid-template-columns:15em 7em 6em 7em 5em minmax(6em, 1fr)"
_BUTTONS_WIDTH = "15em"
REDRAW_INTERVAL = 0.5  # seconds between redraws while events arrive
LEDGER_INTERVAL = 3.0  # seconds between reads of the ledger for other kernels' jobs
LOG_REFRESH = 2.0
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="clusterlab-ui")


class JobMonitor:
    """The monitor's state and widgets; ``.widget`` is what gets displayed."""

    def __init__(
        self, profile: str | None = None, state: str | None = None, limit: int = 50
    ) -> None:
        self.limit = limit
        self.redraws = 0
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._rows: dict[str, _Row] = {}
        self._log_job: str | None = None
        self.state_filter = w.Dropdown(
            options=[
                "all",
                "SUBMITTING",
                "PENDING",
                "RUNNING",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
                "LOST",
            ],
            value=state or "all",
            description="State",
            layout=w.Layout(width="220px"),
        )
        self.profile_filter = w.Dropdown(
            options=["all"], value="all", description="Profile", layout=w.Layout(width="220px")
        )
        if profile:
            self.profile_filter.options = ["all", profile]
            self.profile_filter.value = profile
        self.status = w.HTML()
        self.table = w.VBox()
        self.detail_title = w.HTML()
        # Log of an array: which item (each has its own log, even when items share a task)
        self.item_picker = w.BoundedIntText(
            description="item", min=0, layout=w.Layout(width="12em", display="none")
        )
        self.item_picker.observe(self._on_item, names="value")
        self._log_array: str | None = None
        self.detail = w.Textarea(
            layout=w.Layout(width="100%", height="12em", display="none"), disabled=True
        )
        for dropdown in (self.state_filter, self.profile_filter):
            dropdown.observe(lambda _: self.refresh(), names="value")
        header = w.HBox(
            [
                w.HTML(
                    f"<div class='clusterlab-head' style='{_GRID};font-weight:bold'>"
                    "<span>id</span><span>name</span><span>profile</span><span>state</span>"
                    "<span>elapsed</span><span>reason / progress</span></div>",
                    layout=w.Layout(flex="1 1 auto"),
                ),
                w.HTML(layout=w.Layout(width=_BUTTONS_WIDTH, flex="0 0 auto")),
            ]
        )
        self.widget = w.VBox(
            [
                w.HBox([self.state_filter, self.profile_filter, self.status]),
                header,
                self.table,
                w.HBox([self.detail_title, self.item_picker]),
                self.detail,
            ]
        )
        self.widget.add_class("clusterlab-monitor")
        self._unsubscribe = events.subscribe(lambda event: self._dirty.set())
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="clusterlab-monitor", daemon=True)
        self._thread.start()
        self.widget.observe(self._on_close, names="comm")

    # -- refresh ----------------------------------------------------------------------------
    def _loop(self) -> None:
        last_ledger = time.monotonic()
        while not self._closed.wait(REDRAW_INTERVAL):
            due = time.monotonic() - last_ledger > LEDGER_INTERVAL
            if self._dirty.is_set() or due:
                self._dirty.clear()
                last_ledger = time.monotonic()
                try:
                    self.refresh()
                except Exception as exc:  # shown in the widget, never raised in the kernel
                    self.status.value = (
                        f"<span style='color:var(--jp-error-color1)'>{html.escape(str(exc))}</span>"
                    )

    def records(self) -> list[JobRecord]:
        state = None if self.state_filter.value == "all" else self.state_filter.value
        profile = None if self.profile_filter.value == "all" else self.profile_filter.value
        return ledger.query(profile=profile, state=state, limit=self.limit)

    def refresh(self) -> None:
        """Re-read the ledger and update rows in place (only changed text is re-sent)."""
        recs = self.records()
        profiles = ledger.profile_names()
        options = ["all", *profiles]
        if list(self.profile_filter.options) != options and self.profile_filter.value in options:
            self.profile_filter.options = options
        rows = []
        for rec in recs:
            row = self._rows.get(rec.id)
            if row is None:
                row = self._rows[rec.id] = _Row(self, rec)
            row.update(rec)
            rows.append(row.box)
        if [id(b) for b in self.table.children] != [id(b) for b in rows]:
            self.table.children = rows
        self.status.value = f"{len(recs)} job(s) &middot; updated {time.strftime('%H:%M:%S')}"
        self.redraws += 1

    # -- actions ----------------------------------------------------------------------------
    def cancel(self, job_id: str) -> concurrent.futures.Future[Any]:
        from ...jobs import job

        def run() -> None:
            job(job_id).cancel()
            self._dirty.set()

        return _pool.submit(self._report(run))

    def show_log(self, job_id: str) -> concurrent.futures.Future[Any]:
        """Show the log tail of ``job_id``, refreshing while it runs. For an array, the log
        of one item, chosen with :attr:`item_picker` (first: a failed, else a running
        item), as every item has its own."""
        from ...core.model.array import ArrayJob
        from ...jobs import job

        self._log_job = job_id

        def run() -> None:
            target, shown = job(job_id), job_id
            if isinstance(target, ArrayJob):
                self._log_array = None  # no reaction to the picker while it is set up
                self.item_picker.max = max(len(target) - 1, 0)
                self.item_picker.value = _first_item_to_read(target)
                self.item_picker.layout.display = "flex"
                self._log_array = target.id
                target = target[self.item_picker.value]
                self._log_job = shown = target.id
            elif ":" not in job_id:
                self._log_array = None
                self.item_picker.layout.display = "none"
            while self._log_job == shown and not self._closed.is_set():
                out, err = target.stdout(), target.stderr()
                text = out + (f"\n--- stderr ---\n{err}" if err else "")
                self.detail_title.value = f"<b>log of {html.escape(target.id)}</b> ({target.state})"
                self.detail.value = text[-20000:]
                self.detail.layout.display = "block"
                if target.done():
                    break
                time.sleep(LOG_REFRESH)

        return _pool.submit(self._report(run))

    def _on_item(self, change: dict[str, Any]) -> None:
        if self._log_array is not None:
            self.show_log(f"{self._log_array}:{change['new']}")

    def show_result(self, job_id: str) -> concurrent.futures.Future[Any]:
        from ...common.errors import RemoteTraceback
        from ...core.model.array import ArrayJob
        from ...jobs import job

        self._log_job = self._log_array = None
        self.item_picker.layout.display = "none"

        def run() -> None:
            target = job(job_id)
            if not target.done():
                text = f"{job_id} has not finished yet ({target.state})"
            elif isinstance(target, ArrayJob):
                values = target.results(return_exceptions=True)
                text = "\n".join(f"[{i}] {v!r}" for i, v in enumerate(values))
            elif target.cancelled():
                text = f"cancelled: {target.reason}"
            elif (exc := target.exception()) is not None:
                cause = exc.__cause__
                tb = cause.tb if isinstance(cause, RemoteTraceback) else ""
                text = f"{tb}\n{type(exc).__name__}: {exc}"
            else:
                text = repr(target.result())
            self.detail_title.value = f"<b>result of {html.escape(job_id)}</b>"
            self.detail.value = text
            self.detail.layout.display = "block"

        return _pool.submit(self._report(run))

    def _report(self, fn: Any) -> Any:
        def wrapped() -> None:
            try:
                fn()
            except Exception as exc:
                self.status.value = (
                    f"<span style='color:var(--jp-error-color1)'>{html.escape(str(exc))}</span>"
                )
                raise

        return wrapped

    def _on_close(self, change: dict[str, Any]) -> None:
        if change.get("new") is None:
            self.close()

    def close(self) -> None:
        self._closed.set()
        self._unsubscribe()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class _Row:
    """One job's row; its widgets are reused across refreshes."""

    def __init__(self, monitor: JobMonitor, rec: JobRecord) -> None:
        self.id = rec.id
        self.info = w.HTML(layout=w.Layout(flex="1 1 auto"))
        self.cancel_button = w.Button(description="Cancel", layout=w.Layout(width="5.5em"))
        self.log_button = w.Button(description="Log", layout=w.Layout(width="4em"))
        self.result_button = w.Button(description="Result", layout=w.Layout(width="5.5em"))
        self.cancel_button.on_click(lambda _: monitor.cancel(self.id))
        self.log_button.on_click(lambda _: monitor.show_log(self.id))
        self.result_button.on_click(lambda _: monitor.show_result(self.id))
        for button, tip in (
            (self.cancel_button, "Cancel this job on the cluster"),
            (self.log_button, "Show the end of its output, refreshing while it runs"),
            (self.result_button, "Show the value it returned, or its traceback"),
        ):
            button.tooltip = tip
        buttons = w.HBox(
            [self.cancel_button, self.log_button, self.result_button],
            layout=w.Layout(width=_BUTTONS_WIDTH, flex="0 0 auto"),
        )
        self.box = w.HBox([self.info, buttons])
        self.box.add_class("clusterlab-row")

    def update(self, rec: JobRecord) -> None:
        colour = STATE_COLOURS.get(rec.state, "inherit")
        detail = html.escape(rec.reason)
        if rec.kind == "array":  # the bar shows done/total; its tooltip has every count
            detail = progress_bar(rec.counts, rec.size)
            if rec.state != "COMPLETED":
                detail += f" <small>{html.escape(rec.reason)}</small>"
        if rec.usage is not None:  # what it used; the hint, if any, on hover and marked
            hint = rec.usage_hint
            mark = " &#9888;" if hint else ""
            detail += (
                f" <small title='{html.escape(hint, quote=True)}'>"
                f"{html.escape(str(rec.usage))}{mark}</small>"
            )
        value = (
            f"<div style='{_GRID}'>"
            f"<span style='white-space:nowrap'><code>{html.escape(rec.id)}</code></span>"
            f"<span>{html.escape(rec.name)}</span><span>{html.escape(rec.profile)}</span>"
            f"<span style='color:{colour};font-weight:bold'>{rec.state}</span>"
            f"<span>{elapsed_text(rec.elapsed)}</span><span>{detail}</span></div>"
        )
        if self.info.value != value:
            self.info.value = value
        finished = rec.state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "LOST")
        self.cancel_button.disabled = finished


def _first_item_to_read(array: Any) -> int:
    """The item whose log says the most: the first that failed, else the first running."""
    for states in (("FAILED", "TIMEOUT", "LOST"), ("RUNNING",)):
        for i, item in enumerate(array):
            if item.state.value in states:
                return i
    return 0


def monitor(profile: str | None = None, state: str | None = None, limit: int = 50) -> JobMonitor:
    """A live job monitor widget (display it, or make it a cell's last expression)."""
    return JobMonitor(profile=profile, state=state, limit=limit)
