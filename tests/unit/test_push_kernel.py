"""The kernel's side of push (core/push.py, transports/stream.py): what it does with lines
that are not the agent's, and what it holds in memory."""

from __future__ import annotations

import json
import queue
import sys
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from clusterlab.core.watching.agentlink import Push
from clusterlab.transports.local import LocalTransport

pytestmark = pytest.mark.timeout(60)


def _push(job_dirs: list[str]) -> tuple[Push, list[dict[str, dict[str, bytes]]]]:
    """A Push whose owned dirs' settles are recorded instead of reaching a watcher."""
    push = Push(LocalTransport(), [sys.executable])
    settled: list[dict[str, dict[str, bytes]]] = []
    runtime: Any = SimpleNamespace()
    push._owners.update(dict.fromkeys(job_dirs, runtime))
    push._settle = settled.append  # type: ignore[method-assign]
    return push, settled


def _line(job_dir: str, name: str, offset: int, text: str) -> bytes:
    return json.dumps({"dir": job_dir, "file": name, "offset": offset, "line": text}).encode()


def test_lines_that_are_not_objects_do_not_end_the_settle_thread() -> None:
    """A JSON line that is not an object (a setup line's output, say) was fed to
    record.get(), which raised and killed the thread that settles pushed lines: every
    later line queued for ever and no job was settled by push again."""
    push, settled = _push(["/jobs/a"])
    inbox: queue.Queue[bytes | None] = queue.Queue()
    thread = threading.Thread(target=push._settle_loop, args=(inbox,), daemon=True)
    thread.start()
    for raw in (b"[1, 2]", b"5", b'"text"', b"null", b"true"):
        inbox.put(raw)
    inbox.put(_line("/jobs/a", "status", 0, '{"event": "started"}'))
    inbox.put(None)
    thread.join(10)
    assert not thread.is_alive()
    assert settled and settled[-1] == {"/jobs/a": {"status": b'{"event": "started"}\n'}}
    assert push.lines == 1


def test_a_batch_copies_only_the_files_it_touched() -> None:
    """Each batch hands out every status file of a touched dir; the files no line touched
    are the same objects as before, not copies made again (an array of 2,000 tasks)."""
    push, _ = _push(["/jobs/a"])
    first = push._take([_line("/jobs/a", f"status.{i}", 0, "x" * 100) for i in range(2000)])
    second = push._take([_line("/jobs/a", "status.7", 101, "y")])
    assert second["/jobs/a"]["status.7"] == b"x" * 100 + b"\ny\n"
    untouched = [n for n in second["/jobs/a"] if n != "status.7"]
    assert len(untouched) == 1999
    assert all(second["/jobs/a"][n] is first["/jobs/a"][n] for n in untouched)


def test_an_overlong_line_is_skipped_without_being_held_whole() -> None:
    """The reader of the agent's stdout keeps at most MAX_LINE bytes of a line: a 20 MB
    line without structure is passed over, the lines after it still arrive."""
    stream = LocalTransport().open_stream(
        [sys.executable, "-c", "print('x' * 20_000_000); print('after')"]
    )
    try:
        assert list(stream.lines()) == [b"after"]
    finally:
        stream.close()


def test_bounded_lines_reads_in_pieces_of_the_limit() -> None:
    import io

    from clusterlab.transports.stream import bounded_lines

    reads: list[int] = []
    data = io.BytesIO(b"ok\n" + b"z" * 50 + b"\nshort\ncut")

    def readline(size: int) -> bytes:
        reads.append(size)
        return data.readline(size)

    assert list(bounded_lines(readline, limit=10)) == [b"ok", b"short"]
    assert set(reads) == {11}
