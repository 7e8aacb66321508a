"""How a job's files travel back from a pod: remote/k8s_entry.py frames them into the
pod's log, backends/k8s_mirror.py puts them back. Run here without Kubernetes: the entry
runs the real runner as a subprocess, with its Secret laid out as the kubelet does."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from clusterlab.backends import k8s_manifest as mf
from clusterlab.backends.k8s_mirror import apply_log, parse_frames
from clusterlab.common.jobdir import parse_status
from clusterlab.core.submission.submit import RUNNER_FILES
from clusterlab.core.transfer.payload import dumps_call, load_result
from clusterlab.remote import k8s_entry

ENTRY = Path(k8s_entry.__file__).read_bytes()


def secret_volume(where: Path, data: dict[str, bytes]) -> None:
    """The kubelet's layout: ``..stamp/KEY``, ``..data -> ..stamp``, ``KEY -> ..data/KEY``."""
    stamp = where / "..2026_11_23_12_00_00.1"
    stamp.mkdir(parents=True)
    for key, value in data.items():
        (stamp / key).write_bytes(value)
        (where / key).symlink_to(f"..data/{key}")
    (where / "..data").symlink_to(stamp.name)


def run_pod(
    tmp_path: Path, files: dict[str, bytes], task: int | None = None
) -> tuple[int, bytes, Path]:
    """The entry as a pod runs it; returns (exit code, its log, the pod's job dir)."""
    pod_dir = tmp_path / "pod" / "jobs" / "j1"
    secret = tmp_path / "pod" / mf.PAYLOAD_DIR
    secret_volume(secret, mf.pack({**files, **RUNNER_FILES}, {}, [], ENTRY))
    env = {"PATH": os.environ["PATH"], "CLUSTERLAB_JOB_DIR": str(pod_dir)}
    if task is not None:
        env.update(CLUSTERLAB_ARRAY="1", JOB_COMPLETION_INDEX=str(task))
    res = subprocess.run(
        [sys.executable, str(secret / mf.ENTRY)], env=env, capture_output=True, timeout=60
    )
    return res.returncode, res.stdout + res.stderr, pod_dir


def _make_shout():
    def shout(x: int) -> int:
        print(f"hello {x}")
        print("to stderr", file=sys.stderr)
        return x * 2

    return shout


shout = _make_shout()


def test_a_call_comes_back_whole(tmp_path: Path) -> None:
    code, log, pod_dir = run_pod(tmp_path, {"payload.pkl": dumps_call(shout, (21,), {})})
    assert code == 0
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    read = apply_log(str(kernel), log, full=True)
    assert read.ended and read.code == 0 and not read.gap
    for name in ("status", "stdout", "stderr", "result.pkl"):
        assert (kernel / name).read_bytes() == (pod_dir / name).read_bytes(), name
    assert load_result((kernel / "result.pkl").read_bytes()) == (True, 42)
    status = parse_status((kernel / "status").read_bytes())
    assert status.outcome == "ok" and status.exit_code == 0  # the entry's exit line
    again = apply_log(str(kernel), log + log, full=True)  # reading twice changes nothing
    assert again.written == 0


def test_an_array_task_brings_its_items(tmp_path: Path) -> None:
    import cloudpickle

    items = [(3, (3,), {}, {}), (4, (4,), {}, {})]
    files = {"fn.pkl": cloudpickle.dumps(shout), "items/1.pkl": cloudpickle.dumps(items)}
    files.update({"items/": b"", "results/": b""})
    code, log, _ = run_pod(tmp_path, files, task=1)
    assert code == 0
    kernel = tmp_path / "kernel"
    (kernel / "results").mkdir(parents=True)
    apply_log(str(kernel), log, full=True)
    assert load_result((kernel / "results" / "4.pkl").read_bytes()) == (True, 8)
    status = parse_status((kernel / "status.1").read_bytes())
    assert {i: s.outcome for i, s in status.items.items()} == {3: "ok", 4: "ok"}
    assert (kernel / "stdout.1").read_bytes() == b"hello 3\nhello 4\n"


def test_a_status_line_never_arrives_before_its_result(tmp_path: Path) -> None:
    _, log, _ = run_pod(tmp_path, {"payload.pkl": dumps_call(shout, (1,), {})})
    lines = log.splitlines(keepends=True)
    first_result = next(i for i, ln in enumerate(lines) if ln.startswith(b"@cl1 result.pkl "))
    late = b"".join(lines[first_result + 1 :])  # a live read that began after the result
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    read = apply_log(str(kernel), b"".join(lines[:first_result]), full=False)
    assert parse_status((kernel / "status").read_bytes()).started is not None
    read = apply_log(str(kernel), late, full=False)
    assert read.gap  # the whole log next time
    assert parse_status((kernel / "status").read_bytes()).finished is None
    read = apply_log(str(kernel), log, full=False)
    assert not read.gap and parse_status((kernel / "status").read_bytes()).outcome == "ok"


def test_bytes_rotated_out_of_the_log_become_a_gap_only_in_a_full_read(tmp_path: Path) -> None:
    log = b"@cl1 stdout 10 aGVsbG8=\n"  # "hello" at offset 10: the first 10 bytes are gone
    assert apply_log(str(tmp_path), log, full=False).gap
    assert not (tmp_path / "stdout").exists()
    apply_log(str(tmp_path), log, full=True)
    assert (tmp_path / "stdout").read_bytes() == b"\n" * 10 + b"hello"


def test_frames_others_could_print_are_ignored(tmp_path: Path) -> None:
    log = (
        b"plain output\n@cl1 ../../etc/passwd 0 eA==\n@cl1 status 0 not-base64!\n@cl1 stdout x y\n"
    )
    read = parse_frames(log)
    assert read.pieces == {} and read.gap
    apply_log(str(tmp_path), log, full=True)
    assert os.listdir(tmp_path) == []


def test_a_result_too_big_for_the_log_becomes_an_error_that_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = tmp_path / "job"
    job.mkdir()
    data = pickle.dumps(("ok", b"x" * 5000))
    (job / "result.pkl").write_bytes(data)
    line = {"event": "finished", "outcome": "ok", "sha256": "abc", "time": 1.0}
    (job / "status").write_text(json.dumps(line) + "\n")
    monkeypatch.setattr(k8s_entry, "RESULT_CAP", 1000)
    fwd = k8s_entry.Forwarder(str(job), None)
    out = tmp_path / "log"
    with open(out, "w") as fh:
        monkeypatch.setattr(sys, "stdout", fh)
        fwd.pump(final=True)
    monkeypatch.undo()
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    apply_log(str(kernel), out.read_bytes(), full=True)
    ok, exc = load_result((kernel / "result.pkl").read_bytes())
    assert not ok and isinstance(exc, ValueError)
    assert "more than a Kubernetes pod can send back through its log" in str(exc)
    status = parse_status((kernel / "status").read_bytes())  # the last line wins
    import hashlib

    assert status.outcome == "error"
    assert status.digest == hashlib.sha256((kernel / "result.pkl").read_bytes()).hexdigest()


def test_output_past_the_cap_is_cut_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stdout").write_bytes(b"y" * 5000)
    monkeypatch.setitem(k8s_entry.OUTPUT_CAP, "stdout", 1000)
    fwd = k8s_entry.Forwarder(str(tmp_path), None)
    out = tmp_path / "log"
    with open(out, "w") as fh:
        monkeypatch.setattr(sys, "stdout", fh)
        fwd.output("stdout")
        fwd.output("stdout")
    monkeypatch.undo()
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    apply_log(str(kernel), out.read_bytes(), full=True)
    text = (kernel / "stdout").read_bytes()
    assert text.startswith(b"y" * 1000) and b"is not brought back from Kubernetes" in text
    assert len(text) < 1200


def test_a_job_that_cannot_start_exits_127_with_a_line(tmp_path: Path) -> None:
    files = {"payload.pkl": b"x"}
    pod_dir = tmp_path / "pod" / "jobs" / "j1"
    secret = tmp_path / "pod" / mf.PAYLOAD_DIR
    data = mf.pack({**files, **RUNNER_FILES}, {}, ["exit 5"], ENTRY)
    secret_volume(secret, data)
    env = {"PATH": os.environ["PATH"], "CLUSTERLAB_JOB_DIR": str(pod_dir)}
    res = subprocess.run([sys.executable, str(secret / mf.ENTRY)], env=env, capture_output=True)
    assert res.returncode == 5  # the setup line's exit: recorded, framed, passed on
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    apply_log(str(kernel), res.stdout, full=True)
    assert parse_status((kernel / "status").read_bytes()).exit_code == 5


@pytest.mark.parametrize(
    "frame",
    [
        b"@cl1 result.pkl = 1000000000000000",  # a result size no pod can send
        b"@cl1 stdout 1000000000000000 eA==",  # a byte far past any output cap
        b"@cl1 status 1099511627776 eA==",
        b"@cl1 result.pkl " + b"9" * 5000 + b" eA==",  # int() of this raises ValueError
        b"@cl1 stdout = 5",  # a size frame for a stream file
    ],
)
def test_forged_frames_are_dropped_before_anything_is_allocated(
    tmp_path: Path, frame: bytes
) -> None:
    """A pod's log is written by code in the pod: a frame announcing a huge file or a far
    offset must not make the kernel allocate (or write) that much."""
    job_dir = tmp_path / "j"
    job_dir.mkdir()
    log = b"@cl1 stdout 0 aGkK\n" + frame + b"\n"
    read = apply_log(str(job_dir), log, full=True)
    assert read.refused == 1
    assert (job_dir / "stdout").read_bytes() == b"hi\n"
    assert not (job_dir / "result.pkl").exists()
    assert sum(f.stat().st_size for f in job_dir.iterdir()) == 3


def test_an_end_frame_with_an_absurd_code_is_read_as_no_code(tmp_path: Path) -> None:
    read = apply_log(str(tmp_path), b"@cl1 . = -" + b"9" * 5000 + b"\n", full=True)
    assert read.ended and read.code is None
