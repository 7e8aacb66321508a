"""A status file that grows is parsed incrementally, with exactly the full parse's meaning.

The files are the real runner's (``remote/runner.py`` run in scratch job dirs, as
``test_jobdir_contract.py`` does): an array task with failing and chatty items run twice
(a rerun after a requeue appends a second run), and a single call that the runner retries
(``retry_on``), with the job script's ``exit`` lines and the lines a hostile or broken
writer leaves. Each is fed to one :class:`GrowingStatus` in pieces cut at random bytes
(mid-line too, as a poll may catch a line half-written), and every result must equal
``parse_status`` of the same bytes, and stay so after later polls.
"""

from __future__ import annotations

import copy
import json
import pickle
import random
from pathlib import Path

import pytest

from clusterlab.common import jobdir
from clusterlab.common.jobdir import StatusInfo, parse_status
from clusterlab.common.statusgrowth import GrowingStatus
from clusterlab.core.transfer.payload import dumps_call, dumps_function, dumps_items

from .test_jobdir_contract import _run


def _exit_line(code: int, signal: str = "") -> bytes:
    """The ``exit`` line as the job script (backends/script.py) or the runner writes it."""
    record: dict[str, object] = {"event": "exit", "code": code, "time": 1700000100}
    if signal:
        record["signal"] = signal
    return json.dumps(record).encode() + b"\n"


def _make_loud() -> object:
    """Prints (into the task's logs, from itself and a child) and fails for x < 0."""

    def loud(x: int) -> int:
        import subprocess
        import sys

        print(f"item {x}")
        print(f"warn {x}", file=sys.stderr)
        subprocess.run(["echo", f"child {x}"], check=True)
        if x < 0:
            raise ValueError("negative")
        return x

    return loud


def _make_flaky() -> object:
    """Raises OSError on its first two calls (counted in a file of its work dir)."""

    def flaky(x: int) -> int:
        import os

        calls = len(os.listdir(".")) if os.path.isdir(".") else 0
        with open(f"call{calls}", "w") as fh:
            fh.write("x")
        if calls < 2:
            raise OSError(f"transient {calls}")
        return x + 1

    return flaky


def _array_task(job_dir: Path) -> bytes:
    """A task of 5 items (one fails, all print), requeued once and run again."""
    job_dir.mkdir()
    (job_dir / jobdir.FUNCTION).write_bytes(dumps_function(_make_loud()))  # type: ignore[arg-type]
    (job_dir / jobdir.ITEMS).mkdir()
    (job_dir / jobdir.RESULTS).mkdir()
    calls = [(i, (i if i != 3 else -1,), {}, {}) for i in range(5)]
    (job_dir / jobdir.task_items(1)).write_bytes(dumps_items("chatty", calls))
    status = job_dir / jobdir.status_file(1)
    _run(job_dir, "1", logs=True)
    with status.open("ab") as fh:
        fh.write(b'{"event": "requeue", "cause": "preempted by a job of higher priority"}\n')
        fh.write(_exit_line(143, "TERM"))
    _run(job_dir, "1", logs=True)
    with status.open("ab") as fh:
        fh.write(_exit_line(0))
    return status.read_bytes()


def _retried_call(job_dir: Path) -> bytes:
    """A single call whose function raises OSError twice, retried by the runner."""
    job_dir.mkdir()
    (job_dir / jobdir.PAYLOAD).write_bytes(dumps_call(_make_flaky(), (4,), {}, {}))  # type: ignore[arg-type]
    policy = {"retries": 3, "retry_on": (OSError,), "retry_backoff": 0.0}
    (job_dir / jobdir.ATTEMPTS).write_bytes(pickle.dumps(policy))
    _run(job_dir)
    status = job_dir / jobdir.status_file()
    with status.open("ab") as fh:
        fh.write(_exit_line(0))
    return status.read_bytes()


HOSTILE = (
    b"not json\n"
    b"\n"
    b"[1, 2]\n"
    b'{"event": "item-started", "index": "x", "time": 1}\n'
    b'{"event": "item-started", "index": 9, "time": 2, "attempt": "bad"}\r\n'
    b'{"event": "item-finished", "index": 9, "outcome": "ok", "time": 3}\r'
    b'{"event": "item-finished", "index": 0, "outcome": "error", "time": 4}\n'
    b'{"event": "started", "time": 5, "host": "n2", "pid": 7}\n'
    b'{"event": "finished", "outcome": "ok", "time": 6, "size": 3}'  # no newline: last
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("status")
    array = _array_task(root / "array")
    retried = _retried_call(root / "retried")
    return {"array": array, "retried": retried, "array+hostile": array + HOSTILE}


def test_the_files_hold_what_the_test_is_about(files: dict[str, bytes]) -> None:
    """(So that the comparisons below cover runs, retries, items and their failures.)"""
    array = parse_status(files["array"])
    assert len(array.runs) == 2 and array.runs[0]["cause"]
    assert {i: s.outcome for i, s in array.items.items()} == {
        0: jobdir.OK,
        1: jobdir.OK,
        2: jobdir.OK,
        3: jobdir.ERROR,
        4: jobdir.OK,
    }
    assert all(s.logs and s.usage for s in array.items.values())
    retried = parse_status(files["retried"])
    assert [r["attempt"] for r in retried.runs] == [1, 2, 3]
    assert retried.outcome == jobdir.OK and "OSError" in str(retried.runs[0]["cause"])
    hostile = parse_status(files["array+hostile"])
    assert hostile.malformed == 5 and hostile.outcome == jobdir.OK


@pytest.mark.parametrize("name", ["array", "retried", "array+hostile"])
def test_a_file_growing_in_random_pieces_reads_as_parsed_whole(
    files: dict[str, bytes], name: str
) -> None:
    data = files[name]
    rng = random.Random(f"{name}-30")
    for _ in range(60):
        cuts = sorted(rng.sample(range(len(data) + 1), rng.randint(1, 25)))
        cuts += [len(data)] * rng.randint(0, 2)  # (a poll that finds it as it was)
        growing = GrowingStatus()
        held: list[tuple[StatusInfo, StatusInfo]] = []
        for cut in cuts:
            result = growing.parse(data[:cut])
            assert result == parse_status(data[:cut]), f"{name} cut at {cut} of {len(data)}"
            held.append((result, copy.deepcopy(result)))
        # what an earlier poll returned was not changed by the later ones
        assert all(result == then for result, then in held)


def test_each_line_is_parsed_once_as_the_file_grows(files: dict[str, bytes]) -> None:
    """The point of it: a task's file polled many times costs one parse of its bytes (and
    its unfinished last line again until its newline comes)."""
    data = files["array"]
    lines = data.splitlines(keepends=True)
    growing = GrowingStatus()
    for n in range(len(lines) + 1):
        growing.parse(b"".join(lines[:n]))
        growing.parse(b"".join(lines[:n]))  # an unchanged poll parses nothing
    assert growing.parsed_bytes == len(data)


def test_a_rewritten_file_is_parsed_from_scratch(files: dict[str, bytes]) -> None:
    """Not grown: a rotated or truncated file (a requeued job's, a Kubernetes floor), one
    with the same length but other bytes, a line changed in the middle, a pushed line."""
    data = files["array"]
    first_run_ends = data.index(b'"event": "requeue"')
    first_run_ends = data.rindex(b"\n", 0, first_run_ends) + 1
    second = data[first_run_ends:]
    changed = data.replace(b'"outcome": "error"', b'"outcome": "ERROR"', 1)
    assert changed != data and len(changed) == len(data)
    for later in (second, data[:100], changed, HOSTILE, b"", data[-300:]):
        growing = GrowingStatus()
        growing.parse(data[: len(data) // 2])
        before = growing.parse(data)
        kept = copy.deepcopy(before)
        assert growing.parse(later) == parse_status(later)
        assert before == kept
        assert growing.parse(data) == parse_status(data)  # and back


def test_no_file_reads_as_an_empty_one() -> None:
    growing = GrowingStatus()
    assert growing.parse(None) == parse_status(None) == StatusInfo()
    assert growing.parse(b'{"event": "started", "time": 1}\n').started == 1.0
    assert growing.parse(None) == StatusInfo()


def test_polled_and_pushed_readings_alternate_without_parsing_anew(
    files: dict[str, bytes],
) -> None:
    """A poll reads a task's file with one more newline at its end (``tail``'s separator
    between files) and often older than what the status agent has pushed since; each
    reading still means exactly what a full parse says, and neither form makes the other
    parse the file again (before, each switch between them parsed it whole)."""
    data = files["array"]
    lines = data.splitlines(keepends=True)
    growing = GrowingStatus()
    for k in range(len(lines) - 1):
        pushed = b"".join(lines[: k + 2])
        polled = b"".join(lines[:k]) + b"\n"  # (read before the last two lines came)
        for reading in (pushed, polled, pushed):
            assert growing.parse(reading) == parse_status(reading)
    # each line folded about twice (once ahead, once for the older reading), each
    # reading's extra newline once: nothing like the whole file at every switch
    assert growing.parsed_bytes <= 2 * len(data) + 2 * len(lines)
