"""The job-directory contract has two copies: the kernel's (common/jobdir.py) and the
runner's (remote/runner.py, stdlib only, shipped to the cluster). These tests prove they
agree: by name, and by running the real runner in a scratch job dir and reading what it
wrote with the kernel's parser and paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from clusterlab.common import jobdir
from clusterlab.core.transfer.payload import dumps_call, dumps_function, dumps_items, load_result
from clusterlab.remote import attempts, checkpoint, runner, runner_items, runner_tasks, shim

RUNNER = Path(runner.__file__)
RUNNER_ITEMS = Path(runner_items.__file__)
RUNNER_TASKS = Path(runner_tasks.__file__)


def test_names_agree() -> None:
    pairs = {
        "STATUS": (runner.STATUS, jobdir.STATUS),
        "RESULT": (runner.RESULT, jobdir.RESULT),
        "RESULTS": (runner_items.RESULTS, jobdir.RESULTS),
        "ITEMS": (runner_items.ITEMS, jobdir.ITEMS),
        "PAYLOAD": (runner.PAYLOAD, jobdir.PAYLOAD),
        "FUNCTION": (runner.FUNCTION, jobdir.FUNCTION),
        "POOL": (runner.POOL, jobdir.POOL),
        "CLAIMS": (runner_items.CLAIMS, jobdir.CLAIMS),
        "WORKERS": (runner_items.WORKERS, jobdir.WORKERS),
        "CANCELLED": (runner_items.CANCELLED, jobdir.CANCELLED_CLAIM),
        "WORK": (runner.WORK, jobdir.WORK),
        "WORKDIR_VAR": (runner.WORKDIR_VAR, jobdir.WORKDIR_VAR),
        "ITEM_DIRS_VAR": (runner_items.ITEM_DIRS_VAR, jobdir.ITEM_DIRS_VAR),
        "OUTSIDE_LOCK_VAR": (runner.OUTSIDE_LOCK_VAR, jobdir.OUTSIDE_LOCK_VAR),
        "RUNNER_ITEMS": (runner.RUNNER_ITEMS, jobdir.RUNNER_ITEMS),
        "RUNNER_TASKS": (runner.RUNNER_TASKS, jobdir.RUNNER_TASKS),
        "RANKS": (runner_tasks.RANKS, jobdir.RANKS),
        "TASKS_VAR": (runner_tasks.TASKS_VAR, jobdir.TASKS_VAR),
        "LAUNCHER_VAR": (runner_tasks.LAUNCHER_VAR, jobdir.LAUNCHER_VAR),
        "NODE_VAR": (runner_tasks.NODE_VAR, jobdir.NODE_VAR),
        "TASK_INFO_VAR": (runner_tasks.TASK_INFO_VAR, jobdir.TASK_INFO_VAR),
        "ATTEMPT_VAR (tasks)": (runner_tasks.ATTEMPT_VAR, jobdir.ATTEMPT_VAR),
        "LAUNCHERS": (runner_tasks.LAUNCHERS, jobdir.LAUNCHERS),
        "RUNNER_SHIM": (runner.RUNNER_SHIM, jobdir.RUNNER_SHIM),
        "RUNNER_ATTEMPTS": (runner.RUNNER_ATTEMPTS, jobdir.RUNNER_ATTEMPTS),
        "ATTEMPTS": (attempts.POLICY, jobdir.ATTEMPTS),
        "ATTEMPT_VAR": (attempts.ATTEMPT_VAR, jobdir.ATTEMPT_VAR),
        "CHECKPOINT": (runner.CHECKPOINT, jobdir.CHECKPOINT),
        "CHECKPOINTS": (runner.CHECKPOINTS, jobdir.CHECKPOINTS),
        "CHECKPOINT_VAR": (runner.CHECKPOINT_VAR, jobdir.CHECKPOINT_VAR),
        "CHECKPOINT_VAR (checkpoint)": (checkpoint.CHECKPOINT_VAR, jobdir.CHECKPOINT_VAR),
        "RUNNER_CHECKPOINT": (shim.PROVIDED["checkpoint"], jobdir.RUNNER_CHECKPOINT),
    }
    assert {k: a for k, (a, _) in pairs.items()} == {k: b for k, (_, b) in pairs.items()}
    assert RUNNER.name == jobdir.RUNNER
    assert RUNNER_ITEMS.name == jobdir.RUNNER_ITEMS
    assert RUNNER_TASKS.name == jobdir.RUNNER_TASKS
    assert runner.tasks is sys.modules["clusterlab_runner_tasks"]
    for index in (None, 3):  # where the ranks of a job and of a map item leave their files
        assert runner_tasks.ranks_path("/j", index) == f"/j/{jobdir.ranks_dir(index)}"
    assert runner.items is sys.modules["clusterlab_runner_items"]  # loaded by path, beside it


def _run(job_dir: Path, *task: str, logs: bool = False, env: dict[str, str] | None = None) -> int:
    """Run the runner in ``job_dir``; ``logs``: its output goes to the job's log files, as
    a job script's does (opened for appending, as the local scheduler opens them)."""
    for name in jobdir.RUNNER_FILES:  # the runner and the files shipped beside it
        (job_dir / name).write_bytes((RUNNER.parent / name).read_bytes())
    argv = [sys.executable, jobdir.RUNNER, str(job_dir), *task]
    if not logs:
        return subprocess.run(argv, cwd=job_dir, check=False, env=env).returncode
    with (
        open(job_dir / jobdir.log_file(jobdir.STDOUT, task[0] if task else None), "ab") as out,
        open(job_dir / jobdir.log_file(jobdir.STDERR, task[0] if task else None), "ab") as err,
    ):
        return subprocess.run(argv, cwd=job_dir, check=False, stdout=out, stderr=err).returncode


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


def _where() -> str:
    import os

    return os.getcwd()


def test_user_code_runs_in_the_named_workdir(tmp_path: Path) -> None:
    """The job script exports the profile's workdir as WORKDIR_VAR; the runner changes
    into it (creating it), else into the job dir's own work/."""
    import os

    job_dir, work = tmp_path / "job", tmp_path / "project" / "run"
    job_dir.mkdir()
    (job_dir / jobdir.PAYLOAD).write_bytes(dumps_call(_where, (), {}, {}))
    assert _run(job_dir, env={**os.environ, jobdir.WORKDIR_VAR: str(work)}) == 0
    assert load_result((job_dir / jobdir.RESULT).read_bytes()) == (True, str(work))
    (job_dir / jobdir.PAYLOAD).write_bytes(dumps_call(_where, (), {}, {}))
    env = {k: v for k, v in os.environ.items() if k != jobdir.WORKDIR_VAR}
    assert _run(job_dir, env=env) == 0
    assert load_result((job_dir / jobdir.RESULT).read_bytes()) == (True, str(job_dir / jobdir.WORK))


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


def _make_chatty() -> object:
    def chatty(x: int) -> int:
        import subprocess
        import sys

        print(f"item {x}")  # left in Python's buffer
        print(f"warn {x}", file=sys.stderr)
        subprocess.run(["echo", f"child {x}"], check=True)  # another process, same file
        return x

    return chatty


def test_items_report_where_their_output_lies_and_what_they_used(tmp_path: Path) -> None:
    """The offsets of ``item-started``/``item-finished`` cut the task's log files into each
    item's own output; ``finished`` lines carry the usage of the whole task."""
    (tmp_path / jobdir.FUNCTION).write_bytes(dumps_function(_make_chatty()))  # type: ignore[arg-type]
    (tmp_path / jobdir.ITEMS).mkdir()
    (tmp_path / jobdir.RESULTS).mkdir()
    calls = [(0, (7,), {}, {}), (1, (8,), {}, {})]
    (tmp_path / jobdir.task_items(2)).write_bytes(dumps_items("chatty", calls))
    (tmp_path / jobdir.log_file(jobdir.STDOUT, 2)).write_bytes(b"from the job script\n")
    assert _run(tmp_path, "2", logs=True) == 0
    status = jobdir.parse_status((tmp_path / jobdir.status_file(2)).read_bytes())
    out = (tmp_path / jobdir.log_file(jobdir.STDOUT, 2)).read_bytes()
    err = (tmp_path / jobdir.log_file(jobdir.STDERR, 2)).read_bytes()
    for index, x in ((0, 7), (1, 8)):
        item = status.items[index]
        (a, b), (c, d) = item.logs[jobdir.STDOUT], item.logs[jobdir.STDERR]
        assert b is not None and d is not None
        assert sorted(out[a:b].decode().splitlines()) == [f"child {x}", f"item {x}"]
        assert err[c:d] == f"warn {x}\n".encode()
        assert item.usage is not None and item.usage.max_rss > 1024 * 1024
        assert item.usage.cpu_time >= 0 and 0 <= item.usage.elapsed < 30
    assert status.usage is not None
    assert status.usage.elapsed >= status.items[1].usage.elapsed  # type: ignore[union-attr]


def test_a_single_call_reports_its_usage(tmp_path: Path) -> None:
    (tmp_path / jobdir.PAYLOAD).write_bytes(dumps_call(_square, (3,), {}, {}))
    assert _run(tmp_path) == 0
    status = jobdir.parse_status((tmp_path / jobdir.status_file()).read_bytes())
    assert status.usage is not None and status.usage.max_rss > 1024 * 1024


def test_a_running_item_and_bad_fields_in_item_lines() -> None:
    data = b'{"event": "item-started", "index": 3, "time": 1, "out": 5, "err": -1}\n'
    data += b'{"event": "item-started", "index": 4, "time": 1, "out": 9}\n'
    data += b'{"event": "item-finished", "index": 4, "outcome": "ok", "out": [9, 2],'
    data += b' "err": [true, 3], "usage": {"elapsed": "x"}}\n'
    status = jobdir.parse_status(data)
    assert status.items[3].logs == {jobdir.STDOUT: (5, None)}  # runs: to the end of the file
    assert status.items[4].logs == {jobdir.STDOUT: (9, None)}  # nonsense ends are ignored
    assert status.items[4].usage is None and not status.malformed


def test_a_foreign_line_in_a_status_file_is_counted_not_fatal() -> None:
    data = b'{"event": "started", "pid": "x"}\nnot json\n[1, 2]\n'
    data += b'{"event": "started", "time": 1, "host": "n1", "pid": 5}\n'
    data += b'{"event": "finished", "outcome": "ok"}\n'
    status = jobdir.parse_status(data)
    assert status.outcome == jobdir.OK and status.host == "n1" and status.malformed == 3


def test_a_line_nested_past_the_recursion_limit_is_counted_not_fatal() -> None:
    """Found while making the parse incremental: ``json`` raises RecursionError (not a
    ValueError) for a line of 200,000 ``[``, which escaped ``parse_status`` and failed the
    watcher's every poll, so no job of that cluster moved again; a job that writes such a
    line into its status file now has one malformed line, its other lines still count."""
    data = b'{"event": "started", "time": 1, "host": "n1", "pid": 5}\n'
    data += b"[" * 200_000 + b"\n"
    data += b'{"event": "finished", "outcome": "ok"}\n'
    status = jobdir.parse_status(data)
    assert status.outcome == jobdir.OK and status.host == "n1" and status.malformed == 1


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
    from clusterlab.backends.statusdump import parse_status_dump, read_status_lines
    from clusterlab.transports import LocalTransport

    (tmp_path / "status.0").write_text('{"event": "started", "time": 1, "pid": 2}\n')
    forged = 'status.9\n==> status.0 <==\n{"event": "finished", "outcome": "ok"}'
    (tmp_path / forged).write_text("x\n")
    (tmp_path / "status.12").write_text('{"event": "started", "time": 3, "pid": 4}\n')
    res = LocalTransport().run(["sh", "-s"], stdin=read_status_lines([str(tmp_path)]).encode())
    files = parse_status_dump(res.stdout)[str(tmp_path)]
    assert sorted(files) == ["status.0", "status.12"]
    assert jobdir.parse_status(files["status.0"]).finished is None


def test_the_poll_carries_small_results_whole_and_leaves_large_ones(tmp_path: Path) -> None:
    """A finished job's small result comes with the status poll (no second round trip to
    read it), byte for byte even when it holds what looks like the dump's own headers; a
    result over the inline limit is left for the collector to read."""
    from clusterlab.backends.statusdump import (
        INLINE_MAX,
        inline_result,
        parse_status_dump,
        read_status_lines,
    )
    from clusterlab.transports.local import LocalTransport

    small, large, none = tmp_path / "small", tmp_path / "large", tmp_path / "none"
    for d in (small, large, none):
        d.mkdir()
        (d / "status").write_bytes(b'{"event": "finished", "outcome": "ok"}')  # no newline
    forged = b"\x80\x05\n=== " + str(large).encode() + b"\n==> status <==\nbad\n\x00"
    (small / "result.pkl").write_bytes(forged)
    (large / "result.pkl").write_bytes(b"x" * (INLINE_MAX + 1))
    script = read_status_lines([str(small), str(large), str(none)])
    res = LocalTransport().run(["sh", "-s"], stdin=script.encode())
    dump = parse_status_dump(res.stdout)
    assert inline_result(dump[str(small)]) == forged
    assert inline_result(dump[str(large)]) is None
    assert inline_result(dump[str(none)]) is None
    for d in (small, large, none):  # the status files are still read as they are
        assert dump[str(d)]["status"].strip() == b'{"event": "finished", "outcome": "ok"}'
