"""The profile form's pickers fed by discovery: partition, account and QOS chosen from
what the cluster offers (each partition's option reads its limits and load), and "When
would it start?".

A choice is written into the form's resources field (``partition=gpu``), so the resources
text stays the one place a request is kept and saved. Looking the cluster up is a round
trip (or this machine's cached answer): it runs on a thread when asked for, never while
the form is built. When the cluster cannot be asked the pickers stay empty and the
resources field stays free text, with the reason shown.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ...common.errors import ClusterlabError, ProfileError, ResourceError
from ...config.profile import Profile
from ...config.resources import parse_pairs, parse_resources
from ...discovery import cluster_info, estimate_for

AS_TYPED = ("(as in resources)", "")
PICKED = ("partition", "account", "qos")


class ClusterPickers:
    """``.widget``: the pickers, a "Look up the cluster" and a "When would it start?"
    button and a status line. ``profile()`` gives the form's current profile (None while
    invalid); ``resources`` is the form's resources text widget."""

    def __init__(self, profile: Callable[[], Profile | None], resources: Any) -> None:
        self._profile = profile
        self._resources = resources
        self._filling = False
        self.pickers = {
            key: w.Dropdown(options=[AS_TYPED], description=label, layout=w.Layout(width="28em"))
            for key, label in (("partition", "Partition"), ("account", "Account"), ("qos", "QOS"))
        }
        for key, picker in self.pickers.items():
            picker.add_class(f"clusterlab-picker-{key}")
            picker.observe(lambda change, k=key: self._picked(k, change["new"]), names="value")
        self.lookup_button = w.Button(description="Look up the cluster")
        self.lookup_button.tooltip = (
            "ask the cluster (or this machine's recent answer) which partitions, accounts "
            "and QOS it offers"
        )
        self.when_button = w.Button(description="When would it start?")
        self.when_button.tooltip = (
            "ask the scheduler when a job with these resources would start (nothing is queued)"
        )
        self.lookup_button.on_click(lambda _: self.lookup())
        self.when_button.on_click(lambda _: self.when())
        self.status = w.HTML()
        self.widget = w.VBox(
            [
                w.HBox([self.lookup_button, self.when_button]),
                *self.pickers.values(),
                self.status,
            ]
        )

    def _say(self, text: str) -> None:
        self.status.value = f"<span class='clusterlab-pickers-status'>{html.escape(text)}</span>"

    def _current(self) -> dict[str, Any]:
        try:
            return parse_pairs(str(self._resources.value))
        except ResourceError:
            return {}

    def _picked(self, key: str, value: str) -> None:
        """Write the choice into the resources text (an empty choice removes the key)."""
        if self._filling:
            return
        pairs = self._current()
        if value:
            pairs[key] = value
        else:
            pairs.pop(key, None)
        self._resources.value = "\n".join(
            f"{k}={item}"
            for k, v in pairs.items()
            for item in (v if isinstance(v, list | tuple) else [v])
        )

    def lookup(self) -> threading.Thread:
        """Fill the pickers from discovery, on a thread."""
        profile = self._profile()

        def run() -> None:
            if profile is None:
                self._say("fix the fields marked in red first")
                return
            self._say("asking the cluster...")
            try:
                info = cluster_info(profile)
            except ClusterlabError as exc:
                self._say(f"type the partition and account in resources: {exc}")
                return
            options: dict[str, list[tuple[str, str]]] = {
                "partition": [(p.summary(), p.name) for p in info.partitions],
                "account": [(a, a) for a in info.accounts],
                "qos": [(q, q) for q in info.qos],
            }
            self.fill(options)
            default = f"default partition: {info.default}" if info.default else ""
            self._say("; ".join(x for x in (default, *info.why) if x) or "ready")

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def fill(self, options: dict[str, list[tuple[str, str]]]) -> None:
        """Set each picker's options, keeping what the resources text already says."""
        current = self._current()
        self._filling = True
        try:
            for key, picker in self.pickers.items():
                choices = [AS_TYPED, *options.get(key, [])]
                typed = str(current.get(key, ""))
                if typed and typed not in [v for _, v in choices]:
                    choices.append((f"{typed} (not offered by the cluster)", typed))
                picker.options = choices
                picker.value = typed
        finally:
            self._filling = False

    def when(self) -> threading.Thread:
        """Show when a job with the form's resources would start, on a thread."""
        profile = self._profile()

        def run() -> None:
            if profile is None:
                self._say("fix the fields marked in red first")
                return
            self._say("asking the scheduler...")
            try:
                est = estimate_for(profile, parse_resources(self._current()))
            except (ClusterlabError, ProfileError) as exc:
                self._say(f"no estimate: {exc}")
                return
            self._say(str(est))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread
