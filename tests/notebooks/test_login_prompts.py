"""One-time codes asked where the call came from, through a real kernel and the real
one-time-code sshd: the lab panel's dialog (its comm, over a kernel subshell as JupyterLab
4.6 sends it, so the answer arrives while the cell still runs), and Jupyter's own input
under a running cell."""

from __future__ import annotations

import os
import queue
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.transports import sharedlogin
from tests.cluster import logins
from tests.conftest import ssh_profile

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(240)]


@pytest.fixture
def mfa(sandbox: object, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A saved profile of the one-time-code sshd with no askpass, and a login dir of this
    test (tests name it before ``kernel``, which inherits it: else the shared login of an
    earlier test would spare them the prompt)."""
    path = Path(tempfile.mkdtemp(prefix="cll-"))
    monkeypatch.setenv("CLUSTERLAB_LOGIN_DIR", str(path))
    profile = ssh_profile(
        sandbox,
        name="mfa",
        port=sandbox.mfa_port,  # type: ignore[attr-defined]
        known_hosts=sandbox.login_known_hosts,  # type: ignore[attr-defined]
    )
    cl.profiles.save(profile)
    yield sandbox
    sharedlogin.end_all(path)


def _iopub_until(kc: Any, want: Any, timeout: float = 120) -> Any:
    """The first message ``want`` accepts; a cell's error fails at once, saying what the
    user would have read (no test here waits for an error)."""
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        seen.append(msg)
        if msg["msg_type"] == "error":
            content = msg["content"]
            raise AssertionError(
                f"the cell failed: {content.get('ename')}: {content.get('evalue')}\n"
                + "\n".join(content.get("traceback", []))[-3000:]
            )
        found = want(msg)
        if found:
            return found, seen
    shown = [m["content"].get("data", {}).get("text/plain", "") for m in seen]
    raise AssertionError(
        f"timed out; saw {[m['msg_type'] for m in seen]}; displayed: {[s for s in shown if s]}"
    )


def _stdout(msg: Any) -> str:
    if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
        return str(msg["content"]["text"])
    return ""


def test_the_panel_dialog_answers_while_the_cell_runs(mfa: Any, kernel: Any) -> None:
    kc = kernel
    kc.execute_interactive("%load_ext clusterlab", silent=True, store_history=False, timeout=60)
    # what JupyterLab does for the panel's comm: a subshell, so a busy cell does not block it
    kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
    reply = kc.get_control_msg(timeout=30)
    subshell = reply["content"]["subshell_id"]
    comm_id = uuid.uuid4().hex

    def send(msg_type: str, content: dict[str, Any]) -> None:
        msg = kc.session.msg(msg_type, content)
        msg["header"]["subshell_id"] = subshell
        kc.shell_channel.send(msg)

    send("comm_open", {"comm_id": comm_id, "target_name": "clusterlab", "data": {}})
    send("comm_msg", {"comm_id": comm_id, "data": {"v": 1, "type": "hello", "id": "h1"}})
    kc.execute("import clusterlab as cl\nprint('value', cl.cluster('mfa')(abs)(-4))")

    def prompt(msg: Any) -> Any:
        if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
            data = msg["content"]["data"]
            return data if data.get("type") == "login.prompt" else None
        return None

    asked, _ = _iopub_until(kc, prompt)
    data = asked["data"]
    assert "One-time password" in data["prompt"] and data["secret"] is True
    assert data["profile"] == "mfa" and str(mfa.mfa_port) in data["host"]
    code = logins.next_code(Path(mfa.base_dir))
    answer = {"prompt_id": data["prompt_id"], "answer": code}
    send("comm_msg", {"comm_id": comm_id, "data": {"v": 1, "type": "login.answer",
                                                   "id": "a1", "data": answer}})  # fmt: skip
    printed, seen = _iopub_until(kc, lambda m: "value 4" in _stdout(m) and m)
    assert printed
    assert not any(code in str(m["content"]) for m in seen)  # the code is never echoed


def test_a_blocking_cell_asks_under_itself_without_the_panel(mfa: Any, kernel: Any) -> None:
    kc = kernel
    kc.execute("import clusterlab as cl\nprint('value', cl.cluster('mfa')(abs)(-6))",
               allow_stdin=True)  # fmt: skip
    request = kc.get_stdin_msg(timeout=120)
    assert request["msg_type"] == "input_request"
    assert "One-time password" in request["content"]["prompt"]
    assert "mfa" in request["content"]["prompt"]  # the profile is named
    assert request["content"]["password"] is True  # masked, as a secret is
    kc.input(logins.next_code(Path(mfa.base_dir)))
    printed, _ = _iopub_until(kc, lambda m: "value 6" in _stdout(m) and m)
    assert printed


def _comm_open_of(model: str, description: str = "") -> Any:
    def match(msg: Any) -> Any:
        if msg["msg_type"] != "comm_open":
            return None
        state = msg["content"]["data"].get("state", {})
        if state.get("_model_name") == model and description in str(state.get("description")):
            return msg["content"]["comm_id"]
        return None

    return match


def test_a_login_while_no_cell_runs_asks_with_a_widget_under_the_last_cell(
    mfa: Any, kernel: Any
) -> None:
    """The shared login dies while a map runs and the notebook is idle: the watcher logs in
    again, and the prompt appears as a password field under the last cell."""
    kc = kernel
    code = (
        "import time, clusterlab as cl\n"
        "def slow(x):\n"
        "    import time\n"
        "    time.sleep(4)\n"
        "    return x + 1\n"
        "arr = cl.cluster('mfa')(slow).map(range(3))\n"
        "from clusterlab.core.runtime import get_runtime\n"
        "rt = get_runtime(cl.profiles.load('mfa'))\n"
        "print('master', rt.transport.login.state().pid)\n"
    )
    kc.execute(code, allow_stdin=True)
    first = kc.get_stdin_msg(timeout=120)  # the first login: the cell was running
    assert first["msg_type"] == "input_request"
    kc.input(logins.next_code(Path(mfa.base_dir)))
    line, _ = _iopub_until(kc, lambda m: "master" in _stdout(m) and _stdout(m))
    os.kill(int(line.split()[1]), 9)  # the login dies; the cell has ended
    password, _ = _iopub_until(kc, _comm_open_of("PasswordModel"))
    button, _ = _iopub_until(kc, _comm_open_of("ButtonModel", "Log in"))
    answer = logins.next_code(Path(mfa.base_dir))
    for comm_id, data in (
        (password, {"method": "update", "state": {"value": answer}, "buffer_paths": []}),
        (button, {"method": "custom", "content": {"event": "click"}}),
    ):  # what the browser sends when a person types the code and clicks "Log in"
        kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))
    kc.execute("print('results', arr.results(timeout=150))")
    printed, _ = _iopub_until(kc, lambda m: "results [1, 2, 3]" in _stdout(m) and m, 180)
    assert printed
