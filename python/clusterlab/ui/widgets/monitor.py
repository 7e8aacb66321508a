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

from ...common.efficiency import waste
from ...common.errors import ClusterlabError
from ...common.style import STATE_COLOURS, elapsed_text, progress_bar
from ...config.resources import parse_resources
from ...core.ledger import store as ledger
from ...core.ledger.store import JobRecord
from ...core.model import events

# A row is two lines: who (id, state, name, profile, elapsed) wrapping as needed, then
# what it is doing (reason or progress) over the row's whole width, with its buttons at
# the right. Fixed columns gave the reason ~80 px at a notebook's usual width (one word a
# line) and let an array's bar run under "Cancel"; this reads from 600 px up.
_WHO = "display:flex;flex-wrap:wrap;align-items:baseline;column-gap:0.75em;row-gap:0.1em"
_WHAT = (
    "overflow-wrap:anywhere;line-height:1.35;display:-webkit-box;-webkit-box-orient:vertical;"
    "-webkit-line-clamp:3;line-clamp:3;overflow:hidden"
)
_PRE = (
    "margin:0;padding:0.4em 0.6em;max-height:22em;overflow:auto;white-space:pre-wrap;"
    "overflow-wrap:anywhere;font-family:var(--jp-code-font-family,monospace);"
    "font-size:var(--jp-code-font-size,12px);background:var(--jp-layout-color2,#f5f5f5);"
    "border:1px solid var(--jp-border-color2,#ccc);border-radius:3px;user-select:text"
)
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
        # "most wasted first": the jobs whose request was furthest from what they used
        # (common.efficiency.waste), to right-size the next run.
        self.order = w.Dropdown(
            options=[("newest first", "newest"), ("most wasted first", "waste")],
            value="newest",
            description="Order",
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
        # The log or result of one job, shown right under its row as selectable text.
        self.detail = w.HTML()
        self.detail_text = ""  # what self.detail shows, as plain text
        self.close_button = w.Button(
            description="Close", tooltip="Hide this log or result", layout=w.Layout(width="auto")
        )
        self.close_button.on_click(lambda _: self.hide_detail())
        self.detail_box = w.VBox(
            [
                w.HBox(
                    [self.detail_title, self.item_picker, self.close_button],
                    layout=w.Layout(align_items="center", flex_flow="row wrap"),
                ),
                self.detail,
            ],
            layout=w.Layout(margin="0 0 0.5em 1.5em"),
        )
        self.detail_box.add_class("clusterlab-detail")
        self._detail_of: str | None = None  # the row the detail box sits under
        for dropdown in (self.state_filter, self.profile_filter, self.order):
            dropdown.observe(lambda _: self.refresh(), names="value")
        self.widget = w.VBox(
            [
                w.HBox(
                    [self.state_filter, self.profile_filter, self.order, self.status],
                    layout=w.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.table,
            ],
            layout=w.Layout(max_width="100%"),
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
        recs = ledger.query(profile=profile, state=state, limit=self.limit)
        if self.order.value == "waste":
            recs.sort(key=_waste, reverse=True)  # stable: newest first among equals
        return recs

    def refresh(self) -> None:
        """Re-read the ledger and update rows in place (only changed text is re-sent)."""
        recs = self.records()
        profiles = ledger.profile_names()
        options = ["all", *profiles]
        if list(self.profile_filter.options) != options and self.profile_filter.value in options:
            self.profile_filter.options = options
        rows: list[w.Widget] = []
        for rec in recs:
            row = self._rows.get(rec.id)
            if row is None:
                row = self._rows[rec.id] = _Row(self, rec)
            row.update(rec)
            rows.append(row.box)
            if rec.id == self._detail_of:
                rows.append(self.detail_box)
        if [id(b) for b in self.table.children] != [id(b) for b in rows]:
            self.table.children = rows
        self.status.value = f"{len(recs)} job(s) &middot; updated {time.strftime('%H:%M:%S')}"
        self.redraws += 1

    # -- the detail box under a row --------------------------------------------------------
    def _show_detail(self, row_id: str, title: str, text: str) -> None:
        """Show ``text`` under the row of ``row_id`` (an array item's under its array)."""
        anchor = row_id.split(":", 1)[0]
        if anchor != self._detail_of:
            self._detail_of = anchor
            self.refresh()
        self.detail_title.value = title
        self.detail.value = f"<pre style='{_PRE}'>{html.escape(text)}</pre>"
        self.detail_text = text

    def hide_detail(self) -> None:
        """Close the log or result (the Close button)."""
        self._log_job = self._log_array = None
        self._detail_of = None
        self.detail_text = self.detail.value = ""
        self.refresh()

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
                if not text:  # say why there is nothing, as it stands now
                    text = "(no output yet)" if not target.done() else "(it printed nothing)"
                    if target.reason.startswith("not submitted"):
                        text = f"(no output: {target.reason})"
                title = f"<b>log of {html.escape(target.id)}</b> ({target.state.value})"
                self._show_detail(job_id, title, text[-20000:])
                if target.done():
                    break
                time.sleep(LOG_REFRESH)

        return _pool.submit(self._report(run))

    def _on_item(self, change: dict[str, Any]) -> None:
        if self._log_array is not None:
            self.show_log(f"{self._log_array}:{change['new']}")

    def show_result(self, job_id: str) -> concurrent.futures.Future[Any]:
        """The value's repr or the traceback (once), as the lab panel shows it."""
        from ...core.model.array import ArrayJob
        from ...jobs import job
        from ..job_result import result_text

        self._log_job = self._log_array = None
        self.item_picker.layout.display = "none"

        def run() -> None:
            target = job(job_id)
            if not target.done():
                text = f"{job_id} has not finished yet ({target.state.value})"
            elif isinstance(target, ArrayJob):
                values = target.results(return_exceptions=True)
                text = "\n".join(f"[{i}] {v!r}" for i, v in enumerate(values))
            else:
                shown = result_text(job_id)
                text = shown["text"]
                if not shown["loaded"]:  # too large to read just to show it
                    text = (
                        f"(a value of {shown['size']:,} bytes, not loaded to show it: "
                        f"cl.job({job_id!r}).result() reads it)"
                    )
            self._show_detail(job_id, f"<b>result of {html.escape(job_id)}</b>", text)

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
        self.info = w.HTML(layout=w.Layout(flex="1 1 12em", min_width="0"))
        self.what = w.HTML()  # reason or progress, under the row's whole width
        self.cancel_button = w.Button(description="Cancel", layout=w.Layout(width="auto"))
        self.log_button = w.Button(description="Log", layout=w.Layout(width="auto"))
        self.result_button = w.Button(description="Result", layout=w.Layout(width="auto"))
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
            layout=w.Layout(flex="0 0 auto"),
        )
        buttons.add_class("clusterlab-row-buttons")
        self.box = w.VBox(
            [w.HBox([self.info, buttons], layout=w.Layout(align_items="center")), self.what],
            layout=w.Layout(
                padding="0.25em 0", border_bottom="1px solid var(--jp-border-color2, #ddd)"
            ),
        )
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
        elapsed = elapsed_text(rec.elapsed)
        value = (
            f"<div class='clusterlab-who' style='{_WHO}'>"
            f"<code style='white-space:nowrap'>{html.escape(rec.id)}</code>"
            f"<span style='color:{colour};font-weight:bold'>{rec.state}</span>"
            f"<span>{html.escape(rec.name)}</span>"
            f"<span style='opacity:0.8'>on {html.escape(rec.profile)}</span>"
            + (f"<span>{elapsed}</span>" if elapsed and elapsed != "-" else "")
            + "</div>"
        )
        if self.info.value != value:
            self.info.value = value
        # At most three lines (a long sentence is whole in its tooltip and in Log/Result).
        what = (
            f"<div class='clusterlab-what' style='{_WHAT}' "
            f"title='{html.escape(rec.reason, quote=True)}'>{detail}</div>"
            if detail
            else ""
        )
        if self.what.value != what:
            self.what.value = what
        finished = rec.state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "LOST")
        self.cancel_button.disabled = finished


def _waste(rec: JobRecord) -> float:
    try:
        r = parse_resources(rec.resources)
    except ClusterlabError:  # a row written by hand or by another release
        return -1.0
    return waste(rec.usage, r.memory_mb, r.cores)


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
