"""Login prompts in a notebook: under the running cell, or as a widget under the last one.

Why two: a blocking call (``f(x)``, ``%%cluster``) keeps its cell running, and Jupyter's
own input request (the masked box ``getpass`` shows) is the one thing a frontend answers
while a cell runs; a non-blocking ``submit()`` or ``map()`` has finished its cell when the
login happens on the submission thread, so an ipywidgets password field appears under
that cell instead. The lab panel, when it is open on this kernel, takes precedence
(``ui/comm_login.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from typing import Any

from ..common import prompts


class CellPrompts:
    """Follows which cell runs (IPython's pre/post_run_cell) to address prompts to it."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.kernel = shell.kernel
        self.running = False
        self._parent: Any = None
        self._ident: Any = None
        self._allow_stdin = False
        shell.events.register("pre_run_cell", self._pre)
        shell.events.register("post_run_cell", self._post)

    def _pre(self, info: Any) -> None:
        kernel = self.kernel
        with contextlib.suppress(Exception):
            self._parent = kernel.get_parent("shell")
            self._ident = kernel._get_shell_context_var(kernel._shell_parent_ident)
            self._allow_stdin = bool(kernel._allow_stdin)
        self.running = True

    def _post(self, result: Any) -> None:
        self.running = False

    # -- under the running cell ------------------------------------------------------------
    def input_available(self) -> bool:
        return self.running and self._allow_stdin and self._parent is not None

    def ask_in_cell(self, request: prompts.PromptRequest, timeout: float) -> str | None:
        """Jupyter's input request, addressed to the running cell (masked for secrets)."""
        label = f"[{request.profile} on {request.host}] {request.prompt.strip()} "
        try:
            value: str = self.kernel._input_request(
                label, self._ident, self._parent, password=request.secret
            )
        except (KeyboardInterrupt, EOFError):
            return None
        return value

    # -- a widget under the last cell ------------------------------------------------------
    def widget_available(self) -> bool:
        return not self.running and self._parent is not None

    def ask_with_widget(self, request: prompts.PromptRequest, timeout: float) -> str | None:
        """A password field and a "Log in" button under the cell that ran last."""
        import ipywidgets as w
        from IPython.display import display

        done = threading.Event()
        box: dict[str, str | None] = {"answer": None}
        field = w.Password(placeholder="code or password") if request.secret else w.Text()
        field.add_class("clusterlab-login-field")
        button = w.Button(description="Log in", button_style="primary")
        cancel = w.Button(description="Cancel")
        text = w.HTML(
            f"<b>{_esc(request.host)}</b> (profile <code>{_esc(request.profile)}</code>) asks: "
            f"<code>{_esc(request.prompt.strip())}</code>"
        )
        ui = w.VBox([text, w.HBox([field, button, cancel])])
        ui.add_class("clusterlab-login")

        def submit(_: Any = None) -> None:
            box["answer"] = field.value
            done.set()

        button.on_click(submit)
        field.on_submit(submit) if hasattr(field, "on_submit") else None
        cancel.on_click(lambda _: done.set())

        def show() -> None:
            self.kernel.set_parent(self._ident, self._parent, "shell")
            self.shell.display_pub.set_parent(self._parent)
            display(ui)  # type: ignore[no-untyped-call]

        contextvars.Context().run(show)
        try:
            done.wait(timeout)
        finally:
            answered = box["answer"] is not None
            field.value = ""  # the answer leaves the widget's state at once
            ui.children = [w.HTML("logged in: answer sent" if answered else "prompt closed")]
        return box["answer"]


def _esc(text: str) -> str:
    import html

    return html.escape(text, quote=True)


_cells: CellPrompts | None = None


def register(shell: Any) -> None:
    """Wire this kernel's notebook prompts (idempotent)."""
    global _cells
    if _cells is not None:
        return
    _cells = CellPrompts(shell)
    with contextlib.suppress(Exception):  # imported inside a cell: that cell is running
        parent = shell.kernel.get_parent("shell")
        if isinstance(parent, dict) and parent.get("msg_type") == "execute_request":
            _cells._pre(None)
    prompts.register("notebook", _cells.ask_with_widget, _cells.widget_available)
    prompts.register("running cell", _cells.ask_in_cell, _cells.input_available)
