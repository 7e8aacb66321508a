"""A paramiko transport that survives a key re-exchange while channels close.

paramiko renegotiates keys after 512 MiB sent or received on a connection. Once it has
sent its KEXINIT it holds back every outgoing message other than the exchange's own
(``clear_to_send``). When the server closes a channel in that moment (a command ended:
it sent ``CHANNEL_CLOSE`` before it saw our KEXINIT), paramiko answers the close from its
own reader thread, and that thread then waits for the exchange to end, which only the
same thread can finish by reading the server's reply: after 30 s it gives up with
"Key-exchange timed out waiting for key negotiation" and the connection, with every
command on it, is gone (paramiko issue #822, open since 2016; PR #833 sent the close
anyway, which breaks the protocol). Several threads moving hundreds of MB through one
connection (uploads, result downloads, the poll's small commands) hit it within seconds
(``bench/ssh_rekey_stress.py``).

Here the reader thread never waits on itself: what it must send during an exchange is
kept and sent as soon as the new keys are in force, when the protocol allows it. Other
threads still wait as paramiko intends; a message of theirs that was waiting for the same
channel (its EOF, a window adjustment) is dropped once our CLOSE for it went out, as
RFC 4254 5.3 asks (OpenSSH disconnects on it: "packet referred to nonexistent channel").
"""

from __future__ import annotations

import threading
from typing import Any

import paramiko

_CHANNEL_CLOSE = 97
# Messages about an open channel: WINDOW_ADJUST .. FAILURE (RFC 4254), the recipient
# channel (the server's number) in the four bytes after the type.
_ON_A_CHANNEL = range(93, 101)


class RekeySafeTransport(paramiko.Transport):
    """``paramiko.Transport`` whose reader thread defers (never blocks on) what it must
    send during a key re-exchange; see the module docstring."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self._deferred: list[Any] = []
        self._deferred_lock = threading.Lock()
        self._closed_remote: set[int] = set()  # server channel numbers we sent CLOSE for
        self.deferred_total = 0  # messages the reader kept during an exchange (bench)
        self.dropped_total = 0  # messages for a channel already closed (bench)

    def _send_user_message(self, data: Any) -> None:
        if threading.current_thread() is self:
            with self._deferred_lock:
                if not self.clear_to_send.is_set():
                    self._deferred.append(data)  # sent by _parse_newkeys, below
                    self.deferred_total += 1
                    return
        super()._send_user_message(data)  # type: ignore[misc]

    def _parse_newkeys(self, m: Any) -> None:
        super()._parse_newkeys(m)  # type: ignore[misc]
        with self._deferred_lock:
            kept, self._deferred = self._deferred, []
        for data in kept:  # the new keys are in force: in order, as they were due
            super()._send_user_message(data)  # type: ignore[misc]

    def _send_message(self, data: Any) -> None:
        with data.packet.getbuffer() as view:
            head = bytes(view[:5])
        if len(head) == 5 and head[0] in _ON_A_CHANNEL:
            remote = int.from_bytes(head[1:5], "big")
            if remote in self._closed_remote:
                self.dropped_total += 1
                return
            if head[0] == _CHANNEL_CLOSE:
                self._closed_remote.add(remote)
        super()._send_message(data)  # type: ignore[misc]

    def _parse_channel_open_success(self, m: Any) -> None:
        # The server numbers a new channel afresh: a number it reuses is open again.
        where = m.packet.tell()
        m.get_int()  # our channel number
        self._closed_remote.discard(m.get_int())
        m.packet.seek(where)
        super()._parse_channel_open_success(m)  # type: ignore[misc]
