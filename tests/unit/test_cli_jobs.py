"""The `clusterlab jobs|status|logs|cancel|result` commands, run in-process on real jobs of
the built-in `local` profile, as a user would type them after submitting from a notebook."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.ui import cli_jobs as cli
from clusterlab.ui.cli import main

pytestmark = pytest.mark.timeout(180)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def local(fn: Callable[..., Any]) -> cl.ClusterFunction[..., Any]:
    return cl.cluster("local")(fn)


def wait_until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for a job"
        time.sleep(0.1)


def make_inverse() -> Callable[[int], int]:
    """Nested, so cloudpickle ships it by value (the job's Python cannot import tests)."""

    def inverse(x: int) -> int:
        print(f"inverting {x}")
        return 1 // x

    return inverse


def make_boom() -> Callable[[int], None]:
    def boom(n: int) -> None:
        def inner() -> None:
            raise ValueError(f"boom {n}")

        inner()

    return boom


def make_chatty() -> Callable[[float], str]:
    def chatty(pause: float) -> str:
        import sys
        import time

        print("hello from the job", flush=True)
        print("a warning from the job", file=sys.stderr, flush=True)
        time.sleep(pause)
        print("goodbye from the job", flush=True)
        return "done"

    return chatty


@pytest.fixture
def sleepers() -> Iterator[list[cl.Job | cl.ArrayJob]]:
    """Long jobs a test starts; whatever the test leaves running is cancelled after it."""
    started: list[cl.Job | cl.ArrayJob] = []
    yield started
    for job in started:
        job.cancel()


def running(job: cl.Job) -> cl.Job:
    wait_until(lambda: job.state == cl.JobState.RUNNING)
    return job


def table(out: str) -> dict[str, str]:
    """`clusterlab jobs` output as {id: its whole line}, header excluded."""
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "PROFILE", "STATE", "ELAPSED", "REASON"]
    return {line.split()[0]: line for line in lines[1:]}


# -- formatting -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (3.21, "3.2s"),
        (59.9, "59.9s"),
        (252, "4m12s"),
        (242.7, "4m02s"),
        (3785, "1h03m"),
        (90000, "25h00m"),
    ],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    assert cli.human_duration(seconds) == text


def test_array_progress_lists_open_and_bad_states() -> None:
    counts = {"COMPLETED": 12, "FAILED": 3, "RUNNING": 5, "PENDING": 180}
    assert cli.array_progress(counts, 200) == "12/200 done, 5 running, 180 pending, 3 failed"
    assert cli.array_progress({"PENDING": 4}, 4) == "0/4 done, 4 pending"


# -- jobs -------------------------------------------------------------------------------------
def test_jobs_lists_newest_first_with_states_and_array_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ok = local(abs).submit(-3)
    assert ok.result(timeout=60) == 3
    bad = local(make_boom()).submit(7)
    assert isinstance(bad.exception(timeout=60), ValueError)
    arr = local(make_inverse()).map([1, 0, 2])
    assert arr.wait(timeout=60)

    code, out, _ = run(capsys, "jobs")
    assert code == 0
    rows = table(out)
    assert list(rows) == [arr.id, bad.id, ok.id]
    assert rows[ok.id].split()[1:4] == ["abs", "local", "COMPLETED"]
    assert re.search(r"COMPLETED\s+\d+\.\ds", rows[ok.id])
    assert "FAILED" in rows[bad.id] and "raised ValueError: boom 7" in rows[bad.id]
    assert rows[arr.id].split()[1:4] == ["inverse", "local", "FAILED"]
    assert rows[arr.id].endswith("2/3 done, 1 failed")

    assert list(table(run(capsys, "jobs", "--state", "failed")[1])) == [arr.id, bad.id]
    assert list(table(run(capsys, "jobs", "--state", "COMPLETED", "--limit", "5")[1])) == [ok.id]
    assert list(table(run(capsys, "jobs", "--limit", "1")[1])) == [arr.id]
    assert run(capsys, "jobs", "--profile", "elsewhere")[1].strip() == "no jobs match"


def test_jobs_json_prints_ledger_rows(capsys: pytest.CaptureFixture[str]) -> None:
    job = local(abs).submit(-4)
    job.result(timeout=60)
    code, out, _ = run(capsys, "jobs", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [job.id]
    assert rows[0]["state"] == "COMPLETED" and rows[0]["native_id"] == job.native_id
    assert rows[0]["job_dir"] == job.job_dir and rows[0]["kind"] == "job"


def test_jobs_empty_ledger_and_bad_state(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "jobs")
    assert code == 0 and out.startswith("no jobs yet")
    with pytest.raises(SystemExit) as exit_:
        main(["jobs", "--state", "DONE"])
    assert exit_.value.code == 2
    assert "invalid choice: 'DONE'" in capsys.readouterr().err


# -- status -----------------------------------------------------------------------------------
def fields(out: str) -> dict[str, str]:
    pairs = (line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_status_of_a_job_shows_every_record_field(capsys: pytest.CaptureFixture[str]) -> None:
    job = local(abs).submit(-3)
    job.result(timeout=60)
    code, out, _ = run(capsys, "status", job.id)
    assert code == 0
    shown = fields(out)
    for name in ("kind", "profile_json", "spec", "after", "size", "cleaned", "counts"):
        assert name in shown
    assert shown["id"] == job.id and shown["name"] == "abs" and shown["profile"] == "local"
    assert shown["state"] == "COMPLETED" and shown["native_id"] == job.native_id
    assert shown["job_dir"] == job.job_dir
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", shown["submitted"])
    assert re.fullmatch(r"\d+\.\ds", shown["elapsed"])


def test_status_of_an_array_and_an_item(capsys: pytest.CaptureFixture[str]) -> None:
    arr = local(make_inverse()).map([1, 0, 2])
    assert arr.wait(timeout=60)
    code, out, _ = run(capsys, "status", arr.id)
    assert code == 0
    shown = fields(out)
    assert shown["kind"] == "array" and shown["size"] == "3"
    assert shown["progress"] == "2/3 done, 1 failed"
    assert shown["items COMPLETED"] == "2" and shown["items FAILED"] == "1"
    assert shown[f"{arr.id}:1"].startswith("FAILED raised ZeroDivisionError")

    code, out, _ = run(capsys, "status", f"{arr.id}:1")
    assert code == 0
    item = fields(out)
    assert item["id"] == f"{arr.id}:1" and item["array"] == arr.id and item["index"] == "1"
    assert item["state"] == "FAILED" and "ZeroDivisionError" in item["reason"]
    assert fields(run(capsys, "status", f"{arr.id}:2")[1])["state"] == "COMPLETED"


def make_hog() -> Callable[[int], int]:
    def hog(mb: int) -> int:
        block = b"x" * (mb * 1024 * 1024)  # written, so every page is resident
        return len(block)

    return hog


USAGE = re.compile(r"elapsed \d+\.\ds, CPU \d+\.\ds, peak memory (\d+) MB")


def test_status_shows_what_a_job_used_and_whether_its_request_fitted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = cl.cluster("local", memory="16GB")(make_hog()).submit(100)
    job.result(timeout=60)
    shown = fields(run(capsys, "status", job.id)[1])
    used = USAGE.fullmatch(shown["usage"])
    assert used is not None and int(used.group(1)) >= 100, shown["usage"]
    assert shown["hint"].startswith(f"used {used.group(1)} MB of 16 GB requested memory")

    arr = cl.cluster("local", memory="16GB")(make_hog()).map([10, 60], chunksize=1)
    arr.results(timeout=60)
    shown = fields(run(capsys, "status", arr.id)[1])
    assert shown["usage"].startswith("2 items; most: elapsed "), shown["usage"]
    assert "of 16 GB requested memory" in shown["hint"]
    item = fields(run(capsys, "status", f"{arr.id}:1")[1])
    assert USAGE.fullmatch(item["usage"]) and "16 GB requested" in item["hint"]


# -- logs -------------------------------------------------------------------------------------
def test_logs_prints_stdout_or_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    job = local(make_chatty()).submit(0)
    assert job.result(timeout=60) == "done"
    code, out, _ = run(capsys, "logs", job.id)
    assert code == 0
    assert "hello from the job" in out and "goodbye from the job" in out
    assert "a warning" not in out
    code, out, _ = run(capsys, "logs", job.id, "--stderr")
    assert code == 0 and "a warning from the job" in out and "hello" not in out


def test_logs_of_array_items_and_the_whole_array(capsys: pytest.CaptureFixture[str]) -> None:
    arr = local(make_inverse()).map([5, 6])
    assert arr.wait(timeout=60)
    code, out, _ = run(capsys, "logs", f"{arr.id}:1")
    assert code == 0 and out == "inverting 6\n"
    code, out, err = run(capsys, "logs", arr.id)
    assert code == 2 and out == ""
    assert "is an array of 2 items" in err and f"clusterlab logs {arr.id}:0" in err


def make_ranked() -> Callable[[], int]:
    def ranked() -> int:
        import sys

        import clusterlab as cl

        rank = cl.task().rank
        print(f"out of rank {rank}")
        print(f"err of rank {rank}", file=sys.stderr)
        return rank

    return ranked


def test_logs_of_each_rank(capsys: pytest.CaptureFixture[str]) -> None:
    job = cl.cluster("local", tasks=3)(make_ranked()).submit()
    assert job.result(timeout=60) == 0
    assert run(capsys, "logs", job.id, "--rank", "2") == (0, "out of rank 2\n", "")
    code, out, _ = run(capsys, "logs", job.id, "--rank", "1", "--stderr")
    assert code == 0 and out == "err of rank 1\n"
    assert run(capsys, "logs", job.id)[1] == "out of rank 0\n"  # rank 0's is the job's
    code, out, err = run(capsys, "logs", job.id, "--rank", "3")
    assert code != 0 and "ran 3 tasks, ranks 0 to 2" in err


def test_logs_follow_prints_until_the_job_ends(capsys: pytest.CaptureFixture[str]) -> None:
    job = local(make_chatty()).submit(3)
    wait_until(lambda: "hello" in job.stdout())
    assert not job.done()
    code, out, _ = run(capsys, "logs", "-f", job.id)
    assert code == 0
    assert job.done() and job.state == cl.JobState.COMPLETED
    assert out == "hello from the job\ngoodbye from the job\n"  # each line printed once


# -- cancel -----------------------------------------------------------------------------------
def test_cancel_running_job_and_array(
    capsys: pytest.CaptureFixture[str], sleepers: list[cl.Job | cl.ArrayJob]
) -> None:
    job = running(local(time.sleep).submit(120))
    sleepers.append(job)
    code, out, _ = run(capsys, "cancel", job.id)
    assert code == 0 and out == f"{job.id}: CANCELLED\n"
    assert job.state == cl.JobState.CANCELLED
    assert table(run(capsys, "jobs", "--state", "CANCELLED")[1]).keys() == {job.id}
    code, out, _ = run(capsys, "cancel", job.id)
    assert code == 0 and out == f"{job.id}: already CANCELLED, nothing to cancel\n"

    arr = local(time.sleep).map([120, 120])
    sleepers.append(arr)
    running(arr[0])
    code, out, _ = run(capsys, "cancel", arr.id)
    assert code == 0 and out == f"{arr.id}: CANCELLED (0/2 done, 2 cancelled)\n"
    assert [item.state for item in arr] == [cl.JobState.CANCELLED] * 2


def test_cancel_checks_every_id_before_cancelling_any(
    capsys: pytest.CaptureFixture[str], sleepers: list[cl.Job | cl.ArrayJob]
) -> None:
    job = local(time.sleep).submit(120)
    sleepers.append(job)
    code, out, err = run(capsys, "cancel", job.id, "nope")
    assert code == 2 and out == ""
    assert "no job 'nope'" in err
    assert not job.done()


# -- result -----------------------------------------------------------------------------------
def test_result_prints_repr_of_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    job = local(str.upper).submit("hi")
    assert run(capsys, "result", job.id) == (0, "'HI'\n", "")
    arr = local(abs).map([-1, -2, 3])
    assert run(capsys, "result", arr.id) == (0, "[1, 2, 3]\n", "")
    assert run(capsys, "result", f"{arr.id}:1") == (0, "2\n", "")


def test_result_of_a_failed_job_prints_the_remote_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = local(make_boom()).submit(7)
    code, out, err = run(capsys, "result", job.id)
    assert code == 1 and out == ""
    assert "Traceback (most recent call last)" in err
    assert "in inner" in err and "in boom" in err
    assert err.rstrip().endswith(f"clusterlab: {job.id} failed: ValueError: boom 7")


def test_result_of_an_array_with_a_failed_item_names_the_item(
    capsys: pytest.CaptureFixture[str],
) -> None:
    arr = local(make_inverse()).map([1, 0])
    code, out, err = run(capsys, "result", arr.id)
    assert code == 1 and out == ""
    assert "in inverse" in err and "ZeroDivisionError" in err
    assert f"(item 1 of array {arr.id}, inverse)" in err


def test_result_timeout_and_cancelled(
    capsys: pytest.CaptureFixture[str], sleepers: list[cl.Job | cl.ArrayJob]
) -> None:
    job = local(time.sleep).submit(120)
    sleepers.append(job)
    started = time.monotonic()
    code, out, err = run(capsys, "result", job.id, "--timeout", "0.5")
    assert code == cli.TIMEOUT_EXIT and out == ""
    assert time.monotonic() - started < 10
    assert "did not finish within 0.5 s" in err and "keeps running" in err
    assert not job.done()
    job.cancel()
    code, out, err = run(capsys, "result", job.id)
    assert code == 1 and out == ""
    assert f"{job.id} was cancelled" in err


# -- unknown ids ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["status", "nope"],
        ["status", "nope:3"],
        ["logs", "nope"],
        ["logs", "-f", "nope"],
        ["cancel", "nope"],
        ["result", "nope"],
    ],
)
def test_unknown_id_is_one_clear_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("clusterlab: no job 'nope' in the ledger")


def test_bad_item_ids_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    job = local(abs).submit(-1)
    arr = local(abs).map([1, 2])
    for argv, message in [
        (["status", f"{arr.id}:2"], f"is not an item of array {arr.id} (items: {arr.id}:0 to"),
        (["result", f"{arr.id}:x"], f"'{arr.id}:x' is not an item of array {arr.id}"),
        (["logs", f"{job.id}:0"], f"{job.id} is a single job, not an array"),
    ]:
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, ""), argv
        assert message in err and len(err.splitlines()) == 1
    arr.wait(timeout=60)
    job.result(timeout=60)
