"""``cl.config_widget()``: the profile form, generated from the profile schema.

ipywidgets 8 drops ``tooltip`` on widgets that have a ``description``, so every field gets
its own label element carrying the help text as a ``title`` (hover) and a visible "?" help
mark, and the input has no description. Fields not used by the chosen scheduler hide.
Slow work (Test connection, key set-up) runs on a thread; the password box is emptied as
soon as it is read and its value is never stored.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ... import profiles
from ...common.errors import ClusterlabError, ProfileError, ResourceError
from ...config.profile import Profile, new_profile_values, schema
from ...config.resources import parse_pairs
from ...core.check import CheckLine
from .cluster_pickers import ClusterPickers

NEW = "(new profile)"

# The help mark is a "?" in a CSS circle in JupyterLab's theme colours: a font glyph such
# as U+24D8 (circled i) renders as an empty box with common fonts. Inline, so the form
# looks the same without the lab extension's stylesheet (classic Notebook, VS Code).
HELP_MARK_STYLE = (
    "display:inline-block;box-sizing:border-box;width:14px;height:14px;"
    "border:1px solid var(--jp-border-color1,#999);border-radius:50%;"
    "font-size:10px;line-height:12px;text-align:center;font-weight:600;"
    "color:var(--jp-ui-font-color2,#666);cursor:help;vertical-align:middle"
)


def _help(spec: dict[str, Any]) -> str:
    example = f" Example: {spec['example']}" if spec["example"] else ""
    return f"{spec['tooltip']}{example}"


def _to_text(kind: str, value: Any) -> Any:
    if kind == "env":  # one NAME=VALUE per line
        return "\n".join(f"{k}={v}" for k, v in (value or {}).items())
    if kind == "lines":
        return "\n".join(value or [])
    if kind == "resources":
        # one KEY=VALUE per line; a list (extra) as one line per item, as it is typed
        return "\n".join(
            f"{k}={item}"
            for k, v in (value or {}).items()
            for item in (v if isinstance(v, list | tuple) else [v])
        )
    return value


def _from_text(kind: str, value: Any) -> Any:
    if kind in ("lines", "env"):
        return [line for line in str(value).splitlines() if line.strip()]
    if kind == "resources":
        try:
            return parse_pairs(str(value))
        except ResourceError as exc:
            raise ProfileError("resources", str(exc)) from None
    return value


class _Field:
    """One row: label (with hover help), input, inline error."""

    def __init__(self, spec: dict[str, Any], on_change: Callable[[], None]) -> None:
        self.spec = spec
        kind = spec["type"]
        help_text = html.escape(_help(spec), quote=True)
        label = html.escape(spec["label"])
        self.label = w.HTML(
            f"<label class='clusterlab-field-label' title='{help_text}'>{label} "
            f"<span class='clusterlab-help' title='{help_text}' aria-label='{help_text}' "
            f"style='{HELP_MARK_STYLE}'>?</span></label>",
            layout=w.Layout(width="15em"),
        )
        layout = w.Layout(width="28em")
        if kind == "choice":
            self.input: w.Widget = w.Dropdown(options=spec["choices"], layout=layout)
        elif kind == "bool":
            self.input = w.Checkbox(indent=False)
        elif kind == "int":
            self.input = w.IntText(layout=layout)
        elif kind == "float":
            self.input = w.FloatText(layout=layout)
        elif kind in ("lines", "env"):
            self.input = w.Textarea(placeholder=spec["example"], layout=layout)
        elif kind == "resources":
            self.input = w.Textarea(
                placeholder="cores=4\nmemory=8GB\nextra=--exclusive\nextra=--mail-type=END",
                layout=layout,
            )
        else:
            self.input = w.Text(placeholder=spec["example"], layout=layout)
        self.input.add_class(f"clusterlab-input-{spec['name']}")
        self.error = w.HTML()
        self.row = w.VBox([w.HBox([self.label, self.input]), self.error])
        self.input.observe(lambda _: on_change(), names="value")

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def get(self) -> Any:
        return _from_text(self.spec["type"], self.input.value)

    def set(self, value: Any) -> None:
        self.input.value = _to_text(self.spec["type"], value)

    def show_error(self, message: str | None) -> None:
        self.error.value = (
            f"<span class='clusterlab-error' style='color:var(--jp-error-color1)'>"
            f"{html.escape(message)}</span>"
            if message
            else ""
        )


class ConfigForm:
    """The form's state; ``.widget`` is displayed."""

    def __init__(self, name: str | None = None) -> None:
        self._loading = False
        self.fields = {spec["name"]: _Field(spec, self._changed) for spec in schema()}
        self.chooser = w.Dropdown(description="Profile", options=[NEW])
        self.chooser.observe(lambda change: self.load(change["new"]), names="value")
        self.save_button = w.Button(description="Save", button_style="primary")
        self.delete_button = w.Button(description="Delete")
        self.duplicate_button = w.Button(description="Duplicate")
        self.test_button = w.Button(description="Test connection")
        self.save_button.on_click(lambda _: self.save())
        self.delete_button.on_click(lambda _: self.delete())
        self.duplicate_button.on_click(lambda _: self.duplicate())
        self.test_button.on_click(lambda _: self.test())
        self.message = w.HTML()
        self.report = w.HTML()
        self.password = w.Password(placeholder="password (used once, never stored)")
        self.key_path = w.Text(value="~/.ssh/id_ed25519", layout=w.Layout(width="16em"))
        self.key_path.tooltip = "the key to use; it is created if it does not exist"
        self.key_button = w.Button(description="Set up SSH key")
        self.key_button.tooltip = (
            "Create ~/.ssh/id_ed25519 if you have none, install it on the host with your "
            "password (typed once, never stored), then check that key login works"
        )
        self.key_button.on_click(lambda _: self.setup_key())
        self.transfer = w.Textarea(
            placeholder="paste exported profiles (TOML) here, then Import",
            layout=w.Layout(width="42em", height="6em"),
        )
        self.export_button = w.Button(description="Export")
        self.import_button = w.Button(description="Import")
        self.export_button.on_click(lambda _: self.export())
        self.import_button.on_click(lambda _: self.import_())
        self.pickers = ClusterPickers(self.validate, self.fields["resources"].input)
        self.widget = w.VBox(
            [
                self.chooser,
                *[f.row for f in self.fields.values()],
                self.pickers.widget,
                w.HBox(
                    [self.save_button, self.delete_button, self.duplicate_button, self.test_button]
                ),
                self.message,
                self.report,
                w.HBox([self.password, self.key_path, self.key_button]),
                w.HBox([self.transfer, w.VBox([self.export_button, self.import_button])]),
            ]
        )
        self.widget.add_class("clusterlab-config")
        self.reload_names(name or NEW)

    # -- state ------------------------------------------------------------------------------
    def reload_names(self, select: str) -> None:
        self.chooser.options = [*profiles.list(), NEW]
        self.chooser.value = select if select in self.chooser.options else NEW
        self.load(self.chooser.value)

    def load(self, name: str) -> None:
        # A new profile starts as the panel's does: the defaults, no name.
        profile = None if name == NEW else profiles.load(name)
        values = new_profile_values()
        self._loading = True
        try:
            for field in self.fields.values():
                field.set(values[field.name] if profile is None else getattr(profile, field.name))
        finally:
            self._loading = False
        self._changed()

    def values(self) -> dict[str, Any]:
        return {name: field.get() for name, field in self.fields.items()}

    def _changed(self) -> None:
        """Show only the fields of the chosen scheduler and validate inline."""
        if self._loading:
            return
        kind = self.fields["scheduler"].input.value
        for field in self.fields.values():
            field.row.layout.display = "flex" if kind in field.spec["kinds"] else "none"
        self.validate(quiet_blank_name=True)

    def validate(self, quiet_blank_name: bool = False) -> Profile | None:
        """The profile if valid; otherwise each field shows its error. While typing
        (``quiet_blank_name``) a new profile's empty name is not called wrong yet: Save
        says so, as the panel does."""
        try:
            profile = Profile.from_dict(self.values())
        except ProfileError as exc:
            quiet = quiet_blank_name and not self.fields["name"].get()
            for field in self.fields.values():
                error = exc.errors.get(field.name)
                field.show_error(None if quiet and field.name == "name" else error)
            return None
        for field in self.fields.values():
            field.show_error(None)
        return profile

    def _say(self, text: str, error: bool = False) -> None:
        colour = "var(--jp-error-color1)" if error else "var(--jp-success-color1)"
        self.message.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"

    # -- actions ----------------------------------------------------------------------------
    def save(self) -> Profile | None:
        profile = self.validate()
        if profile is None:
            self._say("not saved: fix the fields marked in red", error=True)
            return None
        saved = profiles.save(profile)
        original = self.chooser.value
        if original not in (NEW, "local", saved.name):
            profiles.delete(original)  # renamed
        self.reload_names(saved.name)
        self._say(f"saved profile {saved.name!r} to {profiles.path()}")
        return saved

    def delete(self) -> None:
        name = self.chooser.value
        if name == NEW:
            return
        profiles.delete(name)
        self.reload_names(NEW)
        self._say(f"deleted profile {name!r}")

    def duplicate(self) -> None:
        name = self.chooser.value
        if name == NEW:
            return
        base, n = f"{name}-copy", 1
        new = base
        while new in profiles.list():
            n += 1
            new = f"{base}{n}"
        profiles.duplicate(name, new)
        self.reload_names(new)
        self._say(f"duplicated {name!r} as {new!r}")

    def test(self) -> threading.Thread:
        """Run the profile check in the background, showing lines as they arrive."""
        profile = self.validate()
        lines: list[str] = []

        def show(line: CheckLine) -> None:
            colour, mark = {
                "ok": ("var(--jp-success-color1)", "&#10003;"),
                "warning": ("var(--jp-warn-color1)", "!"),
                "error": ("var(--jp-error-color1)", "&#10007;"),
            }[line.level]
            lines.append(
                f"<li class='clusterlab-check-{'ok' if line.ok else 'fail'}'>"
                f"<span style='color:{colour}'>{mark}</span> <b>{html.escape(line.name)}</b>: "
                f"<span style='white-space:pre-wrap'>{html.escape(line.detail)}</span></li>"
            )
            self.report.value = f"<ul>{''.join(lines)}</ul>"

        def run() -> None:
            if profile is None:
                self._say("fix the fields marked in red first", error=True)
                return
            self.report.value = "<i>testing...</i>"
            report = profiles.check(profile, on_line=show)
            self._say(
                f"profile {profile.name!r} is ready" if report.ok else "some checks failed",
                error=not report.ok,
            )

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def setup_key(self) -> threading.Thread:
        from ...sshkeys import setup_ssh_key

        password, self.password.value = self.password.value, ""  # never kept in the widget
        profile = self.validate()
        key_file = self.key_path.value
        steps: list[str] = []

        def step(text: str) -> None:
            steps.append(f"<li>{html.escape(text)}</li>")
            self.report.value = f"<ul>{''.join(steps)}</ul>"

        def run() -> None:
            if profile is None or not password:
                self._say("fill in the profile and type your password first", error=True)
                return
            try:
                saved = setup_ssh_key(profile, password, key_file=key_file, on_step=step)
            except ClusterlabError as exc:
                self._say(f"key set-up failed: {exc}", error=True)
                return
            self.reload_names(saved.name)
            self._say(f"key login works; profile {saved.name!r} saved with key_file")

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def export(self) -> str:
        text = profiles.export()
        self.transfer.value = text
        self._say("exported every saved profile above (no secrets are ever included)")
        return text

    def import_(self) -> None:
        try:
            saved = profiles.import_profiles(self.transfer.value)
        except ProfileError as exc:
            self._say(f"nothing imported: {exc}", error=True)
            return
        self.reload_names(saved[0].name)
        self._say(f"imported {', '.join(p.name for p in saved)}")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def config_widget(name: str | None = None) -> ConfigForm:
    """The profile form (display it, or make it a cell's last expression)."""
    return ConfigForm(name)
