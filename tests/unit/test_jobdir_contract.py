"""The job-directory contract has two copies: the kernel's (common/jobdir.py) and the
runner's (remote/runner.py, stdlib only, shipped to the cluster). These tests prove they
agree: by name, and by running the real runner in a scratch job dir and reading what it
wrote with the kernel's parser and paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from clusterlab.common import jobdir
from clusterlab.core.payload import dumps_call, dumps_function, dumps_items, load_result
from clusterlab.remote import runner

RUNNER = Path(runner.__file__)


def test_names_agree() -> None:
    pairs = {
        "STATUS": (runner.STATUS, jobdir.STATUS),
        "RESULT": (runner.RESULT, jobdir.RESULT),
        "RESULTS": (runner.RESULTS, jobdir.RESULTS),
        "ITEMS": (runner.ITEMS, jobdir.ITEMS),
        "PAYLOAD": (runner.PAYLOAD, jobdir.PAYLOAD),
        "FUNCTION": (runner.FUNCTION, jobdir.FUNCTION),
        "POOL": (runner.POOL, jobdir.POOL),
        "CLAIMS": (runner.CLAIMS, jobdir.CLAIMS),
        "WORKERS": (runner.WORKERS, jobdir.WORKERS),
        "CANCELLED": (runner.CANCELLED, jobdir.CANCELLED_CLAIM),
        "WORK": (runner.WORK, jobdir.WORK),
    }
    assert {k: a for k, (a, _) in pairs.items()} == {k: b for k, (_, b) in pairs.items()}
    assert RUNNER.name == jobdir.RUNNER


def _run(job_dir: Path, *task: str) -> int:
    (job_dir / jobdir.RUNNER).write_bytes(RUNNER.read_bytes())
    return subprocess.run(
        [sys.executable, jobdir.RUNNER, str(job_dir), *task], cwd=job_dir, check=False
    ).returncode


def _make_square() -> object:
    """Nested, so cloudpickle ships it by value (the runner cannot import the tests)."""

    def square(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x * x

    return square


_square = _make_square()


def test_a_single_call_as_the_kernel_reads_it(tmp_path: Path) -> None:
    (tmp_path / jobdir.PAYLOAD).write_bytes(dumps_call(_square, (7,), {}, {}))
    assert _run(tmp_path) == 0
    status = jobdir.parse_status((tmp_path / jobdir.status_file()).read_bytes())
    assert status.started is not None and status.outcome == jobdir.OK and not status.malformed
    assert load_result((tmp_path / jobdir.RESULT).read_bytes()) == (True, 49)


def test_an_array_task_as_the_kernel_reads_it(tmp_path: Path) -> None:
    (tmp_path / jobdir.FUNCTION).write_bytes(dumps_function(_square))
    (tmp_path / jobdir.ITEMS).mkdir()
    (tmp_path / jobdir.RESULTS).mkdir()
    calls = [(4, (2,), {}, {}), (5, (-1,), {}, {})]
    (tmp_path / jobdir.task_items(3)).write_bytes(dumps_items("sq", calls))
    assert _run(tmp_path, "3") == 1  # one item raised
    status = jobdir.parse_status((tmp_path / jobdir.status_file(3)).read_bytes())
    assert status.outcome == jobdir.ERROR
    assert {i: s.outcome for i, s in status.items.items()} == {4: jobdir.OK, 5: jobdir.ERROR}
    assert load_result((tmp_path / jobdir.item_result(4)).read_bytes()) == (True, 4)
    ok, exc = load_result((tmp_path / jobdir.item_result(5)).read_bytes())
    assert not ok and isinstance(exc, ValueError)
    assert jobdir.task_of_status_file(jobdir.status_file(3)) == 3


def test_a_foreign_line_in_a_status_file_is_counted_not_fatal() -> None:
    data = b'{"event": "started", "pid": "x"}\nnot json\n[1, 2]\n'
    data += b'{"event": "started", "time": 1, "host": "n1", "pid": 5}\n'
    data += b'{"event": "finished", "outcome": "ok"}\n'
    status = jobdir.parse_status(data)
    assert status.outcome == jobdir.OK and status.host == "n1" and status.malformed == 3


def _vandal() -> object:
    def write_over_clusterlab_files() -> str:
        import os

        for name in ("status", "result.pkl", "payload.pkl"):
            with open(name, "w") as fh:
                fh.write("not json {\n")
        return os.getcwd()

    return write_over_clusterlab_files


def test_user_code_runs_in_work_and_cannot_touch_the_job_files(tmp_path: Path) -> None:
    """Review defect: jobs ran in the job dir, so a function writing a file named
    ``status`` corrupted the runner's status file (and froze the watcher)."""
    (tmp_path / jobdir.PAYLOAD).write_bytes(dumps_call(_vandal(), (), {}, {}))  # type: ignore[arg-type]
    assert _run(tmp_path) == 0
    ok, cwd = load_result((tmp_path / jobdir.RESULT).read_bytes())
    assert ok and Path(cwd) == tmp_path / jobdir.WORK
    assert (tmp_path / jobdir.WORK).stat().st_mode & 0o777 == 0o700
    status = jobdir.parse_status((tmp_path / jobdir.STATUS).read_bytes())
    assert status.outcome == jobdir.OK and not status.malformed


def test_a_file_named_like_a_tail_header_cannot_speak_for_another_task(tmp_path: Path) -> None:
    """Found by the hostile-input review: status files are read with `tail`, whose
    `==> NAME <==` headers a job could forge with a newline in a file name."""
    from clusterlab.backends.base import _READ_STATUS, parse_status_dump
    from clusterlab.transports import LocalTransport

    (tmp_path / "status.0").write_text('{"event": "started", "time": 1, "pid": 2}\n')
    forged = 'status.9\n==> status.0 <==\n{"event": "finished", "outcome": "ok"}'
    (tmp_path / forged).write_text("x\n")
    (tmp_path / "status.12").write_text('{"event": "started", "time": 3, "pid": 4}\n')
    res = LocalTransport().script(_READ_STATUS, str(tmp_path))
    files = parse_status_dump(res.stdout)[str(tmp_path)]
    assert sorted(files) == ["status.0", "status.12"]
    assert jobdir.parse_status(files["status.0"]).finished is None
