"""Issue 30 item 6: commands ending while paramiko renegotiates keys must not take the
connection down ("Key-exchange timed out waiting for key negotiation", paramiko #822).

Against the sandbox's real sshd, with paramiko's rekey threshold lowered from 512 MiB to
2 MiB so that a few 24 MB downloads cross many key exchanges while other threads' small
commands end (as a watcher's polls do beside a result download). Before the fix the
reader thread waited on itself and the connection died after ``clear_to_send_timeout``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import paramiko
import pytest

from clusterlab.transports import get_transport
from tests.conftest import ssh_profile

pytestmark = pytest.mark.timeout(240)

SIZE = 24 * 1024 * 1024


def test_commands_ending_during_a_key_exchange_keep_the_connection(
    sandbox: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paramiko.packet.Packetizer, "REKEY_BYTES", 2 * 1024 * 1024)
    transport = get_transport(ssh_profile(sandbox, ssh_client="paramiko", persist=0))
    transport.run(["true"])
    link = transport._transport()  # type: ignore[attr-defined]
    link.clear_to_send_timeout = 5.0  # a deadlock shows in seconds, not paramiko's 30
    errors: list[str] = []

    def download() -> None:
        try:
            res = transport.run(["head", "-c", str(SIZE), "/dev/zero"], timeout=60)
            if res.returncode != 0 or len(res.stdout) != SIZE:
                errors.append(f"download: exit {res.returncode}, {len(res.stdout)} bytes")
        except Exception as exc:
            errors.append(f"download: {exc}")

    def poll(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                transport.run(["true"], timeout=60)
            except Exception as exc:
                errors.append(f"poll: {exc}")
                return

    try:
        _rounds(transport, link, download, poll, errors)
    finally:
        transport.close()  # a fresh connection for later tests (paramiko's timeout again)


def _rounds(
    transport: Any, link: Any, download: Callable[[], None], poll: Any, errors: list[str]
) -> None:
    """Transfers beside small commands until a close has met an exchange at least once."""
    for _ in range(8):
        stop = threading.Event()
        workers = [threading.Thread(target=download) for _ in range(2)]
        workers += [threading.Thread(target=poll, args=(stop,)) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers[:2]:
            w.join()
        stop.set()
        for w in workers[2:]:
            w.join()
        assert errors == []
        assert transport._transport() is link  # type: ignore[attr-defined]  # never re-opened
        if getattr(link, "deferred_total", 0):
            break
    assert link.deferred_total > 0, "no channel closed during a key exchange in 8 rounds"
