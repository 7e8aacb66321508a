"""A TCP relay on 127.0.0.1 that adds a fixed delay each way: a login node far away.

    python bench/relay.py TARGET_PORT [--delay-ms 25]     (prints the port it listens on)

This machine's kernel has no netem qdisc, so distance is made in user space: every chunk
read from one side is written to the other ``delay`` seconds later, in order, without
slowing the stream's throughput (chunks are scheduled, not serialised behind a sleep).
Only loopback: it listens on 127.0.0.1 and connects to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            chunk = await reader.read(1 << 16)
            await queue.put((time.monotonic() + delay, chunk))
            if not chunk:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
    finally:
        with contextlib.suppress(OSError):
            writer.close()


def known_hosts_for(info: Any, port: int) -> str:
    """The sandbox's host key under the relay's port (OpenSSH and paramiko key by port)."""
    kind, b64 = Path(info.known_hosts).read_text().split()[1:3]
    path = Path(tempfile.mkdtemp(prefix="bench-kh-")) / "known_hosts"
    path.write_text(f"[127.0.0.1]:{port} {kind} {b64}\n")
    return str(path)


class Relay:
    """Listens on 127.0.0.1:``port``; each connection goes to 127.0.0.1:``target``."""

    def __init__(self, target: int, delay_ms: float = 25.0) -> None:
        self.target = target
        self.delay = delay_ms / 1000.0
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="bench-relay", daemon=True)

    def start(self) -> Relay:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._task = loop.create_task(self._serve())
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(self._task)
        # Connections still open end here, on the running loop (closing them after the
        # loop closed printed "Event loop is closed" tracebacks at every bench's end).
        rest = asyncio.all_tasks(loop)
        for task in rest:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.close()

    async def _serve(self) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # Ended by stop(): returning (not raising CancelledError) keeps asyncio's
            # stream callback from printing the cancellation as an error.
            with contextlib.suppress(asyncio.CancelledError):
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
                await asyncio.gather(
                    _pipe(reader, up_writer, self.delay), _pipe(up_reader, writer, self.delay)
                )

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await server.serve_forever()

    def measured_rtt(self, samples: int = 5) -> float:
        """Seconds for one byte to go through a relay like this one and back (to a small
        echo server of its own): what every request/reply exchange costs."""
        echo = socket.create_server(("127.0.0.1", 0))

        def serve() -> None:
            with contextlib.suppress(OSError):
                conn, _ = echo.accept()
                with conn:
                    while data := conn.recv(1024):
                        conn.sendall(data)

        threading.Thread(target=serve, daemon=True).start()
        probe = Relay(echo.getsockname()[1], self.delay * 1000).start()
        best = float("inf")
        with socket.create_connection(("127.0.0.1", probe.port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(samples):
                t0 = time.perf_counter()
                sock.sendall(b"x")
                sock.recv(1)
                best = min(best, time.perf_counter() - t0)
        probe.stop()
        echo.close()
        return best

    def stop(self) -> None:
        """Stop listening and end the connections still open."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
            self._thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=int)
    parser.add_argument("--delay-ms", type=float, default=25.0)
    args = parser.parse_args()
    relay = Relay(args.target, args.delay_ms).start()
    print(relay.port, flush=True)
    print(f"measured round trip {relay.measured_rtt() * 1000:.1f} ms", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
