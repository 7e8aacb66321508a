"""The lab panel's silent load into a real kernel, then the user's own ``%load_ext``.

The panel runs the code of ``LOAD_CODE`` in labextension/src/comm-channel.ts (read from there, so
this tests what the panel really sends) into a kernel that lacks the comm target. After
that, the ``%load_ext clusterlab`` the docs tell users to run must print nothing and work.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(180)

KERNEL_TS = Path(__file__).resolve().parents[2] / "labextension" / "src" / "comm-channel.ts"


def panel_load_code() -> str:
    match = re.search(r'export const LOAD_CODE\s*=\s*"([^"]+)"', KERNEL_TS.read_text())
    if match is None:  # the old form, a single-quoted string
        match = re.search(r"const LOAD_CODE\s*=\s*'([^']+)'", KERNEL_TS.read_text())
    assert match is not None, "LOAD_CODE not found in comm-channel.ts"
    return match.group(1)


def run(kc: Any, code: str, silent: bool = False) -> tuple[str, dict[str, Any]]:
    """Execute `code`; return everything it printed or displayed, and the reply."""
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            out.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            out.append("\n".join(content["traceback"]))

    reply = kc.execute_interactive(
        code, silent=silent, store_history=not silent, timeout=90, output_hook=hook
    )
    return "".join(out), reply["content"]


def test_load_ext_after_the_panel_loaded_clusterlab_is_quiet_and_works(kernel: Any) -> None:
    kc = kernel
    text, reply = run(kc, panel_load_code(), silent=True)
    assert reply["status"] == "ok", text
    # The panel's load gives the comm target and the magic, and binds no names.
    text, _ = run(
        kc,
        "from comm import get_comm_manager\n"
        "print('clusterlab' in get_comm_manager().targets,"
        " get_ipython().find_cell_magic('cluster') is not None,"
        " 'clusterlab' in dir())",
    )
    assert text.split() == ["True", "True", "False"]

    text, reply = run(kc, "%load_ext clusterlab")
    assert reply["status"] == "ok"
    assert text == ""  # not "The clusterlab extension is already loaded..."
    text, _ = run(kc, "print('clusterlab' in get_ipython().extension_manager.loaded)")
    assert text.strip() == "True"
    # A second %load_ext is IPython's own business (it is loaded now): it says so.
    text, _ = run(kc, "%load_ext clusterlab")
    assert "already loaded" in text

    text, reply = run(kc, "%%cluster local\nanswer = 6 * 7")
    assert reply["status"] == "ok", text
    text, _ = run(kc, "print(answer)")
    assert text.strip() == "42"
