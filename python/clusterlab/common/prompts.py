"""Answering what a login server asks (one-time codes, passwords) from where the call came.

Why a router: a prompt arrives deep inside a transport (an ``ssh`` master's askpass helper,
or paramiko's keyboard-interactive handler), often on a background thread, while the person
who can answer sits in the lab panel, under a notebook cell or at a terminal. Front ends
register an *answerer*; the transport asks :func:`answer` and gets the text or a
:class:`PromptUnanswered` that names the prompt and how to answer it next time.

Answers live in memory only: never logged, stored, or put into an exception's text.

The ``ssh`` binary reaches this process through a unix socket in an owner-only directory
(:class:`PromptServer`), which the askpass helper (``askpass.py``) connects to.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..common.logindir import login_dir
from .errors import TransportError

PROMPT_TIMEOUT = 300.0
"""Seconds a person has to answer a prompt in the panel, the notebook or the terminal."""


@dataclass(frozen=True)
class PromptRequest:
    """What the server asked: its own prompt text, whether the answer is secret."""

    prompt: str
    profile: str
    host: str
    secret: bool = True
    instructions: str = ""


class PromptUnanswered(TransportError):
    """Nobody could answer: the sentence quotes the server and says how to answer."""


Answerer = Callable[[PromptRequest, float], "str | None"]
"""``(request, timeout) -> answer``, None when the person dismissed the prompt."""

_answerers: list[tuple[str, Answerer, Callable[[], bool]]] = []
_lock = threading.Lock()


def register(name: str, answerer: Answerer, available: Callable[[], bool] = lambda: True) -> None:
    """Add (or replace) a front end that can ask a person; the newest available one wins,
    so a panel opened in a kernel takes over from that kernel's notebook widget."""
    with _lock:
        _answerers[:] = [a for a in _answerers if a[0] != name]
        _answerers.append((name, answerer, available))


def unregister(name: str) -> None:
    with _lock:
        _answerers[:] = [a for a in _answerers if a[0] != name]


def current() -> tuple[str, Answerer] | None:
    """The front end that would answer now, if any."""
    with _lock:
        candidates = list(reversed(_answerers))
    for name, answerer, available in candidates:
        try:
            if available():
                return name, answerer
        except Exception as exc:  # a broken front end must not hide the others
            print(f"clusterlab: the {name} cannot ask for logins: {exc}", file=sys.stderr)
    return None


def how_to_answer(request: PromptRequest) -> str:
    """The sentence for a prompt nobody could answer (never contains an answer)."""
    return (
        f"{request.host} asks {request.prompt.strip()!r} to log in (profile "
        f"{request.profile!r}) and nothing here can answer it: set the profile's askpass "
        "to a command that prints the answer (e.g. an oathtool wrapper or your password "
        "manager's CLI), or log in once from JupyterLab (panel or notebook) or a terminal "
        f"(`clusterlab profile check {request.profile}`); the login is then shared."
    )


def answer(request: PromptRequest, timeout: float = PROMPT_TIMEOUT) -> str:
    """Ask the current front end; PromptUnanswered if there is none or it gave up."""
    found = current()
    if found is None:
        raise PromptUnanswered(how_to_answer(request))
    name, answerer = found
    reply = answerer(request, timeout)
    if reply is None:
        raise PromptUnanswered(
            f"the login prompt {request.prompt.strip()!r} of {request.host} (profile "
            f"{request.profile!r}) was not answered in the {name}; run the call again to be "
            "asked again."
        )
    return reply


# -- the socket the askpass helper talks to ------------------------------------------------


class PromptServer:
    """A unix socket in the owner-only login dir; one JSON line in, one JSON line out.

    Only this user can reach it (the directory is 0700), and each connection is one prompt.
    """

    def __init__(self) -> None:
        self.path = str(login_dir() / f"prompt-{os.getpid()}-{id(self):x}.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self._sock.listen(4)
        self._thread = threading.Thread(target=self._serve, name="clusterlab-prompts", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(
                target=self._one, args=(conn,), name="clusterlab-prompt", daemon=True
            ).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while not data.endswith(b"\n") and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            try:
                msg = json.loads(data)
                request = PromptRequest(
                    prompt=str(msg["prompt"]),
                    profile=str(msg.get("profile", "")),
                    host=str(msg.get("host", "")),
                    secret=bool(msg.get("secret", True)),
                )
            except (ValueError, KeyError, TypeError):
                return
            try:
                reply: dict[str, str] = {"answer": answer(request)}
            except TransportError as exc:
                reply = {"error": str(exc)}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(reply).encode() + b"\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


_server: PromptServer | None = None


def server() -> PromptServer:
    """This process's prompt socket, started on first need."""
    global _server
    with _lock:
        if _server is None:
            _server = PromptServer()
        return _server


def terminal_answerer(request: PromptRequest, timeout: float) -> str | None:
    """The CLI's way: read the controlling terminal (hidden for secrets)."""
    import getpass

    label = f"[{request.profile} on {request.host}] {request.prompt.strip()} "
    if request.secret:
        return getpass.getpass(label)
    return input(label)


def has_terminal() -> bool:
    """Whether this process can ask on a terminal (the CLI in a shell, not a script)."""
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return False


# A script or the CLI run from a terminal asks there; the lowest priority (front ends that
# register later win), and unavailable without a controlling terminal (kernels, CI).
register("terminal", terminal_answerer, has_terminal)
