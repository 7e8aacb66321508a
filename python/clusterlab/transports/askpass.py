"""The SSH_ASKPASS helper that ``ssh`` runs for each prompt of a shared login.

Run as a plain script (``python .../askpass.py PROMPT``), never as ``-m clusterlab...``: it
must start fast and import nothing of clusterlab. OpenSSH's convention: the server's prompt
is the last argument, the answer goes to stdout, a non-zero exit means "no answer".

In order: the profile's ``askpass`` command (no shell; prompt as its last argument), else
the process that started the login (its prompt socket, which asks the lab panel, the
notebook or the terminal). Failures are reported on stderr as one ``clusterlab-askpass:``
line that the transport turns into a sentence; the answer itself is only ever written to
stdout, the pipe back to ``ssh``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

MARK = "clusterlab-askpass:"
COMMAND_TIMEOUT = 120.0


def _report(kind: str, prompt: str, detail: str = "") -> None:
    print(f"{MARK} {json.dumps({'kind': kind, 'prompt': prompt, 'detail': detail})}",
          file=sys.stderr, flush=True)  # fmt: skip


def command_argv(command: str) -> list[str]:
    """The profile's ``askpass`` as argv: split like a shell would, never run by one;
    ``~`` in the program's path expanded."""
    import shlex

    argv = shlex.split(command)
    if argv:
        argv[0] = os.path.expanduser(argv[0])
    return argv


def ask_command(argv: list[str], prompt: str) -> tuple[bytes | None, str]:
    """Run an askpass command (no shell, the prompt as its last argument): (its stdout, "")
    or (None, why it failed). Also used in-process by the paramiko transport."""
    try:
        done = subprocess.run(
            [*argv, prompt],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{argv[0]}: {exc}"
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return None, f"{argv[0]} exited {done.returncode}: {tail[0][:300]}"
    return done.stdout, ""


def _from_command(argv: list[str], prompt: str) -> int:
    out, why = ask_command(argv, prompt)
    if out is None:
        _report("command", prompt, why)
        return 1
    sys.stdout.buffer.write(out)
    return 0


def _from_socket(path: str, prompt: str) -> int:
    request = {
        "prompt": prompt,
        "profile": os.environ.get("CLUSTERLAB_LOGIN_PROFILE", ""),
        "host": os.environ.get("CLUSTERLAB_LOGIN_HOST", ""),
        "secret": True,
    }
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data or b"{}")
    except (OSError, ValueError) as exc:
        _report("socket", prompt, str(exc))
        return 1
    if "answer" not in reply:
        _report("unanswered", prompt, str(reply.get("error", "")))
        return 1
    sys.stdout.write(str(reply["answer"]) + "\n")
    return 0


def main(argv: list[str]) -> int:
    prompt = argv[-1] if argv else ""
    if os.environ.get("SSH_ASKPASS_PROMPT") == "none":
        return 0  # a notice (e.g. "touch your security key"): nothing to answer
    command = os.environ.get("CLUSTERLAB_ASKPASS_CMD")
    if command:
        return _from_command(json.loads(command), prompt)
    path = os.environ.get("CLUSTERLAB_PROMPT_SOCKET")
    if path:
        return _from_socket(path, prompt)
    _report("unanswered", prompt)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
