"""Keyboard-interactive logins for the paramiko client: a one-time code after the key (or
instead of it) answered by the profile's askpass command or the front end that can ask
(common/prompts.py), where paramiko itself would read this process's stdin.
"""

from __future__ import annotations

from typing import Any

import paramiko

from ..common import prompts
from ..config.profile import Profile
from .askpass import ask_command, command_argv


class PromptingClient(paramiko.SSHClient):
    """paramiko's client, answering keyboard-interactive prompts (a one-time code after the
    key, or instead of it) through the profile's askpass or the front end that can ask,
    where paramiko itself would read stdin."""

    answer: Any = None  # (prompt, echo) -> answer

    failure: Exception | None = None

    def _handler(self, title: str, instructions: str, prompt_list: Any) -> list[str]:
        """Runs on paramiko's own thread: an exception there breaks the transport, so a
        prompt nobody answered is kept (and raised by the caller) and answered empty."""
        try:
            return [self.answer(prompt, echo) for prompt, echo in prompt_list]
        except Exception as exc:  # re-raised by SSHTransport.client_for
            self.failure = exc
            return ["" for _ in prompt_list]

    def _auth(self, username: str, *args: Any) -> None:
        transport: paramiko.Transport = getattr(self, "_transport")  # noqa: B009 - untyped

        def interactive(username: str, handler: Any = None, submethods: str = "") -> list[str]:
            return list(transport.auth_interactive(username, self._handler, submethods))

        # paramiko answers a second factor with auth_interactive_dumb (reads stdin)
        transport.auth_interactive_dumb = interactive  # type: ignore[method-assign]
        try:
            super()._auth(username, *args)  # type: ignore[misc]
        except paramiko.BadAuthenticationType as exc:
            if "keyboard-interactive" not in exc.allowed_types:
                raise
            interactive(username)  # a server that asks only for codes, no key


def answer_prompt(profile: Profile, where: str, prompt: str, echo: bool) -> str:
    """One server prompt: the profile's askpass command, else whoever can ask."""
    if profile.askpass:
        out, why = ask_command(command_argv(profile.askpass), prompt)
        if out is None:
            raise prompts.PromptUnanswered(
                f"{where} asks {prompt.strip()!r} to log in (profile {profile.name!r}) "
                f"and the askpass command failed: {why}. Check it in a terminal."
            )
        return out.decode(errors="replace").rstrip("\r\n")
    request = prompts.PromptRequest(prompt, profile.name, where, secret=not echo)
    return prompts.answer(request)
