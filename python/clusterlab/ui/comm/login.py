"""The panel's side of logging in: prompts shown as a dialog, the login state, log in/out.

Protocol (docs/comm-protocol.md): the kernel pushes ``login.prompt`` ``{prompt_id,
profile, host, prompt, secret}``; the panel answers with the request ``login.answer``
``{prompt_id, answer}`` (``answer`` null: dismissed). ``profiles.login``,
``profiles.logout`` and ``profiles.login_state`` take ``{name}``. The answer is handed to
the waiting login and dropped: it is never logged or echoed back.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from ... import profiles
from ...common import prompts
from .topic import Connection, Request, Topic, profile_name


class PanelPrompts:
    """Prompts of this kernel's logins, asked in the panel connected to it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.name = f"panel {id(conn):x}"
        self._waiting: dict[str, tuple[threading.Event, list[str | None]]] = {}
        self._lock = threading.Lock()
        prompts.register(self.name, self.ask)

    def ask(self, request: prompts.PromptRequest, timeout: float) -> str | None:
        prompt_id = uuid.uuid4().hex
        event = threading.Event()
        box: list[str | None] = [None]
        with self._lock:
            self._waiting[prompt_id] = (event, box)
        try:
            self.conn.send(
                "login.prompt",
                {
                    "prompt_id": prompt_id,
                    "profile": request.profile,
                    "host": request.host,
                    "prompt": request.prompt,
                    "secret": request.secret,
                },
            )
            event.wait(timeout)
        finally:
            with self._lock:
                self._waiting.pop(prompt_id, None)
        return box[0]

    def answer(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        prompt_id = str(data.get("prompt_id", ""))
        with self._lock:
            waiting = self._waiting.get(prompt_id)
        if waiting is None:
            return {"accepted": False}  # answered elsewhere, or timed out
        event, box = waiting
        value = data.get("answer")
        box[0] = value if isinstance(value, str) else None
        event.set()
        return {"accepted": True}

    def login(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        return profiles.login(profile_name(data))

    def logout(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        name = profile_name(data)
        return {"was_logged_in": profiles.logout(name), **profiles.login_state(name)}

    def state(self, data: dict[str, Any], rid: str) -> dict[str, Any]:
        return profiles.login_state(profile_name(data))

    def close(self) -> None:
        prompts.unregister(self.name)
        with self._lock:
            waiting = list(self._waiting.values())
        for event, _ in waiting:
            event.set()  # the panel went away: the login says nobody answered


def open_topic(conn: Connection) -> Topic:
    panel = PanelPrompts(conn)
    return Topic(
        {
            "login.answer": Request(panel.answer),
            "profiles.login": Request(panel.login, slow=True),
            "profiles.logout": Request(panel.logout, slow=True),
            "profiles.login_state": Request(panel.state, slow=True),
        },
        close=panel.close,
    )
