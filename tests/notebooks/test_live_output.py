"""A blocking call shows the job's prints while it runs, in a real kernel.

Causal, not timed: the job waits until the test has SEEN its first line on the kernel's
iopub channel and only then creates the file the job waits for. Without live output the
line arrives only after the job ended, so the job gives up and the cell fails.
"""

from __future__ import annotations

import os
import queue
import uuid
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

import clusterlab as cl
from tests.conftest import ssh_profile

pytestmark = pytest.mark.timeout(300)

JOB = """
import clusterlab as cl

@cl.cluster({profile!r})
def chatty(go):
    import os, sys, time
    print("waiting for the notebook", flush=True)
    print("a note on stderr", file=sys.stderr, flush=True)
    for _ in range(300):
        if os.path.exists(go):
            break
        time.sleep(0.1)
    else:
        raise TimeoutError("nobody saw the first line while the job ran")
    print("released", flush=True)
    return 7
"""

CELL = {
    "function": "chatty({go!r})",
    "magic": (
        "%%cluster {profile}\n"
        "import os, time\n"
        "print('waiting for the notebook', flush=True)\n"
        "for _ in range(300):\n"
        "    if os.path.exists({go!r}): break\n"
        "    time.sleep(0.1)\n"
        "else:\n"
        "    raise TimeoutError('nobody saw the first line while the job ran')\n"
        "print('released', flush=True)\n"
        "answer = 7"
    ),
}


def run_and_release(profile: str, kind: str, go: Path) -> tuple[list[str], list[str], str]:
    """Run the cell; create ``go`` when the first line shows. (stdout, stderr, result)."""
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        setup = kc.execute_interactive(JOB.format(profile=profile) + "\n%load_ext clusterlab")
        assert setup["content"]["status"] == "ok", setup
        cell = CELL[kind].format(profile=profile, go=str(go))
        msg_id = kc.execute(cell + ("\nanswer" if kind == "magic" else ""))
        out: list[str] = []
        err: list[str] = []
        result = ""
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=120)
            except queue.Empty:
                pytest.fail(f"no output from the kernel; so far {out} {err}")
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind_ = msg["msg_type"]
            content = msg["content"]
            if kind_ == "stream":
                (out if content["name"] == "stdout" else err).append(content["text"])
                if "waiting for the notebook" in "".join(out) and not go.exists():
                    go.touch()  # only now may the job go on
            elif kind_ == "execute_result":
                result = content["data"]["text/plain"]
            elif kind_ == "error":
                pytest.fail("\n".join(content["traceback"]))
            elif kind_ == "status" and content["execution_state"] == "idle":
                return out, err, result
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("kind", ["function", "magic"])
@pytest.mark.parametrize("where", ["local", "slurm-ssh"])
def test_blocking_call_streams_output_while_the_job_runs(
    where: str, kind: str, request: pytest.FixtureRequest
) -> None:
    profile = "local"
    if where == "slurm-ssh":
        cl.profiles.save(ssh_profile(request.getfixturevalue("sandbox"), name="sblive"))
        profile = "sblive"
    go = Path(f"/tmp/clusterlab-go-{uuid.uuid4().hex}")
    try:
        out, err, result = run_and_release(profile, kind, go)
    finally:
        if go.exists():
            os.unlink(go)
    text = "".join(out)
    assert text.count("waiting for the notebook") == 1 and text.count("released") == 1
    assert text.index("waiting") < text.index("released")
    if kind == "function":
        assert "".join(err).count("a note on stderr") == 1
    assert result == "7"


def test_stdout_follow_iterates_until_the_job_ends() -> None:
    @cl.cluster("local")
    def counter(n: int) -> int:
        import time

        for i in range(n):
            print(f"line {i}", flush=True)
            time.sleep(0.2)
        return n

    job = counter.submit(5)
    chunks = list(job.stdout(follow=True))
    assert job.done() and job.result() == 5
    assert "".join(chunks) == "".join(f"line {i}\n" for i in range(5))
