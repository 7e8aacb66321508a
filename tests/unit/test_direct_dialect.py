"""The ``direct`` scheduler without a network: golden job scripts, the dispatcher's rules
(run in this process on files in a temp dir), and how its files read back as states and
reasons."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.backends.base import ArraySpec, WatchTarget
from clusterlab.backends.direct import DirectBackend, queue_dir
from clusterlab.backends.direct_status import observe
from clusterlab.common import kinds as registry
from clusterlab.common.errors import SubmitError
from clusterlab.common.states import Cause, JobState
from clusterlab.remote import hostqueue
from clusterlab.transports import LocalTransport
from tests.unit.script_samples import golden, sample_spec

AFTER = ["20261123-110000-aaaaaa", "20261123-110000-bbbbbb_3"]


def backend(**fields: object) -> DirectBackend:
    profile = cl.Profile(name="t", scheduler="direct", **fields)  # type: ignore[arg-type]
    return DirectBackend(profile, LocalTransport())


# -- what runs -----------------------------------------------------------------------------------
def test_script_matches_golden_file() -> None:
    spec = sample_spec(AFTER, cores=4, memory="8GB", time="1:00:00")
    script = backend(max_concurrent=4).job_script(spec)
    assert script == golden("direct_job.sh", script)
    assert "timeout -k 5 3600 " in script  # the limit is the host's, not the kernel's


def test_array_script_matches_golden_file() -> None:
    spec = sample_spec([], time="10")
    spec.array = ArraySpec(tasks=200, max_concurrent=5)
    script = backend().job_script(spec)
    assert script == golden("direct_array.sh", script)
    assert f'TASK="${{{hostqueue.TASK_VAR}}}"' in script


def test_registry_entry() -> None:
    kind = registry.get("direct")
    assert kind.features == {*registry.FEATURES, registry.TASKS}  # tasks: N processes
    assert kind.load() is DirectBackend
    cl.Profile(name="d", scheduler="direct", max_concurrent=3)  # the field applies
    cl.Profile(name="d", scheduler="direct", host="login.example.edu")  # over SSH


@pytest.mark.parametrize("name", ["a_b", ".x", "a b", "-x", "a\nb"])
def test_job_dirs_that_are_not_plain_tokens_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SubmitError, match="not a plain token"):
        backend().submit(sample_spec([], job_dir=str(tmp_path / "jobs" / name)), {})
    assert not list(tmp_path.iterdir())


def test_dependencies_on_other_schedulers_are_refused(tmp_path: Path) -> None:
    spec = sample_spec(["123[4].pbs"], job_dir=str(tmp_path / "jobs" / "20261123-110000-c"))
    with pytest.raises(SubmitError, match="waits only for jobs of its own"):
        backend().submit(spec, {})
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_queue_dir_is_next_to_the_jobs() -> None:
    assert queue_dir("/home/me/.clusterlab/jobs/20261123-1") == "/home/me/.clusterlab/queue"


# -- the dispatcher's rules, on real files -------------------------------------------------------
class Host:
    """A remote_dir in a temp dir, with the dispatcher driven one step at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.q = root / "queue" / os.uname().nodename  # this host's queue in the remote_dir
        (self.q / "spool").mkdir(parents=True)
        self.dispatcher = hostqueue.Dispatcher(str(self.q))
        self.order = 0

    def spool(self, native: str, script: str = "exit 0", **spec: object) -> Path:
        job = self.root / "jobs" / native
        job.mkdir(parents=True)
        (job / "job.sh").write_text(script + "\n")
        entry = {"native": native, "tasks": 0, "after": [], "limit": 1, "time": 0, **spec}
        (job / hostqueue.SPEC).write_text(json.dumps(entry))
        self.order += 1
        (self.q / "spool" / f"{self.order:020d}-{native}").write_text(f"{job}\n")
        return job

    def settle(self, until: float = 10) -> None:
        """Step until every spooled job is done (the real loop sleeps between steps)."""
        deadline = time.monotonic() + until
        while True:
            self.dispatcher.last_scan = 0.0  # look at the spool every step
            self.dispatcher.step()
            if not self.dispatcher.jobs or time.monotonic() > deadline:
                return
            time.sleep(0.02)


def _state(job: Path) -> list[dict[str, object]]:
    return hostqueue.records((job / hostqueue.STATE).read_bytes())


def test_one_at_a_time_in_order_with_the_reason_written(tmp_path: Path) -> None:
    host = Host(tmp_path)
    first = host.spool("a", f"sleep 0.3; date +%s.%N > {tmp_path}/a.end")
    second = host.spool("b", f"date +%s.%N > {tmp_path}/b.start")
    host.dispatcher.last_scan = 0.0
    host.dispatcher.step()
    assert [r["event"] for r in _state(first)] == ["running"]
    assert json.loads((second / hostqueue.WAIT).read_text()) == {"wait": "slots", "limit": 1}
    host.settle()
    assert float((tmp_path / "b.start").read_text()) >= float((tmp_path / "a.end").read_text())
    assert not (second / hostqueue.WAIT).exists()
    assert not list((host.q / "spool").iterdir())  # the spool empties


def test_a_failed_dependency_ends_its_dependents(tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.spool("prep", "exit 3")
    single = host.spool("one", "exit 0", after=["prep"])
    array = host.spool("arr", "exit 0", tasks=3, after=["one"], limit=4)
    host.settle()
    assert _state(single)[-1] == {**_state(single)[-1], "task": None, "dependency": "prep"}
    assert _state(array)[-1]["dependency"] == "one"
    assert not (array / "stdout.0").exists()  # never started


def test_task_dependencies_and_array_throttles(tmp_path: Path) -> None:
    host = Host(tmp_path)
    array = host.spool("arr", 'test "$CLUSTERLAB_TASK" != 1', tasks=4, throttle=2, limit=8)
    host.dispatcher.last_scan = 0.0
    host.dispatcher.step()
    assert json.loads((array / hostqueue.WAIT).read_text()) == {"wait": "throttle", "limit": 2}
    after_ok = host.spool("ok", "exit 0", after=["arr_0"], limit=8)
    after_bad = host.spool("bad", "exit 0", after=["arr_1"], limit=8)
    host.settle()
    ends = {r["task"]: r["code"] for r in _state(array) if r["event"] == "ended"}
    assert ends == {0: 0, 1: 1, 2: 0, 3: 0}
    assert [r["event"] for r in _state(after_ok)] == ["running", "ended"]
    assert _state(after_bad)[-1]["dependency"] == "arr_1"


def test_a_cancelled_job_never_starts_and_its_dependents_fail(tmp_path: Path) -> None:
    host = Host(tmp_path)
    blocker = host.spool("blocker", "sleep 0.3")
    queued = host.spool("queued", "exit 0")
    dependent = host.spool("dep", "exit 0", after=["queued"])
    (queued / hostqueue.CANCEL).touch()
    host.settle()
    assert _state(queued) == [{**_state(queued)[0], "task": None, "cancelled": True}]
    assert _state(dependent)[-1]["dependency"] == "queued"
    assert _state(blocker)[-1]["ok"] is True


def test_a_task_that_ran_before_a_reboot_is_lost_and_the_queue_goes_on(tmp_path: Path) -> None:
    host = Host(tmp_path)
    job = host.spool("old", "exit 0")
    running = {"task": -1, "event": "running", "pid": 1, "ticks": 1, "boot": "another-boot"}
    (job / hostqueue.STATE).write_text(json.dumps(running) + "\n")
    after = host.spool("next", "exit 0", after=["old"])
    host.settle()
    assert _state(job)[-1]["lost"] == hostqueue.REBOOTED
    assert _state(after)[-1]["dependency"] == "old"


def test_a_running_task_of_an_earlier_dispatcher_is_adopted(tmp_path: Path) -> None:
    host = Host(tmp_path)
    job = host.spool("adopted", "exit 0")
    proc = subprocess.Popen(["sleep", "0.5"])
    ticks = (hostqueue.proc_stat(proc.pid) or (0, 0))[1]
    running = {
        "task": -1,
        "event": "running",
        "pid": proc.pid,
        "ticks": ticks,
        "boot": hostqueue.BOOT,
    }
    (job / hostqueue.STATE).write_text(json.dumps(running) + "\n")
    (job / "status").write_text('{"event": "exit", "code": 0, "time": 1}\n')
    host.dispatcher.last_scan = 0.0
    host.dispatcher.step()
    assert [r["event"] for r in _state(job)] == ["running"]  # still running: not restarted
    proc.wait()
    host.settle()
    assert _state(job)[-1] == {**_state(job)[-1], "event": "ended", "code": 0, "ok": True}
    assert not (job / "stdout").exists()


def test_pid_reuse_is_not_mistaken_for_the_job() -> None:
    assert hostqueue.alive(os.getpid(), 0, hostqueue.BOOT)
    assert not hostqueue.alive(os.getpid(), 1, hostqueue.BOOT)  # same pid, another start time
    assert not hostqueue.alive(os.getpid(), 0, "another-boot")


# -- files -> states and reasons -----------------------------------------------------------------
def _files(**files: object) -> dict[str, bytes]:
    out = {}
    for name, value in files.items():
        name = name.replace("_", ".") if name.startswith(("status_", "cancel_")) else name
        name = {"spec": hostqueue.SPEC, "state": hostqueue.STATE, "wait": hostqueue.WAIT}.get(
            name, name
        )
        lines = value if isinstance(value, list) else [value]
        out[name] = "".join(json.dumps(v) + "\n" for v in lines).encode() if value else b""
    return out


def test_waiting_jobs_say_why() -> None:
    def reason(wait: dict[str, object]) -> str:
        return observe(_files(spec={"tasks": 0}, wait=wait), False, running=4).reason

    assert reason({"wait": "slots", "limit": 4}) == "waiting for a free slot (4 of 4 running)"
    assert reason({"wait": "after", "on": "x"}) == "waiting for the jobs it depends on"
    assert reason({"wait": "throttle", "limit": 2}).startswith(
        "waiting under the array's concurrency limit (%N)"
    )
    stale = observe(_files(spec={"tasks": 0}), False, stale=True)
    assert stale.state == JobState.PENDING and "not running" in stale.reason


def test_how_tasks_ended() -> None:
    run = {"task": 0, "event": "running", "pid": 5}
    ended = [
        {"task": 1, "event": "ended", "code": 124, "timeout": True},
        {"task": 2, "event": "ended", "code": 143, "cancelled": True},
        {"task": 3, "event": "ended", "code": None, "lost": hostqueue.REBOOTED},
        {"task": 4, "event": "ended", "code": 137},
        {"task": 5, "event": "ended", "code": 0},
    ]
    obs = observe(_files(spec={"tasks": 8}, state=[run, *ended], cancel_7=None), True)
    tasks = obs.tasks
    assert tasks[0].state == JobState.RUNNING
    assert (tasks[1].state, tasks[1].cause) == (JobState.TIMEOUT, Cause.TIME_LIMIT)
    assert tasks[2].state == JobState.CANCELLED
    assert (tasks[3].state, tasks[3].reason) == (JobState.LOST, hostqueue.REBOOTED)
    assert (tasks[4].state, tasks[4].reason) == (JobState.FAILED, "killed by SIGKILL")
    assert tasks[5].state is None  # left the queue: its status file decides
    assert tasks[6].state == JobState.PENDING
    assert (tasks[7].state, tasks[7].reason) == (
        JobState.CANCELLED,
        "cancelled by you before it started",
    )


def test_a_failed_dependency_reads_as_the_core_expects() -> None:
    failed = {"task": None, "event": "ended", "dependency": "x", "known": True}
    obs = observe(_files(state=failed), False)
    assert (obs.state, obs.reason) == (JobState.CANCELLED, "dependency failed")
    unknown = observe(_files(state={**failed, "known": False}), False)
    assert unknown.state == JobState.CANCELLED
    assert unknown.reason.startswith("dependency failed: x is not a job of this host queue")


def test_a_dependency_the_queue_does_not_know_never_succeeds(tmp_path: Path) -> None:
    host = Host(tmp_path)
    job = host.spool("orphan", "exit 0", after=["20000101-000000-000000"])
    host.settle()
    assert _state(job)[-1]["known"] is False and not (job / "stdout").exists()


def test_cancel_markers_name_the_task(tmp_path: Path) -> None:
    q, jobs = tmp_path / "queue", tmp_path / "jobs"
    (q / os.uname().nodename / "spool").mkdir(parents=True)
    (q / "hostq-x.py").write_text("")
    for name in ("a", "b"):
        (jobs / name).mkdir(parents=True)
    b = backend(remote_dir=str(tmp_path))
    b._installed[str(q)] = (1, True, os.uname().nodename)
    b.cancel([WatchTarget("a", str(jobs / "a"), True), WatchTarget("b_3", str(jobs / "b"))])
    assert (jobs / "a" / "cancel").exists() and (jobs / "b" / "cancel.3").exists()


# -- local jobs held for their kernel (issue 29, finding 14) -------------------------------------
def _owner() -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    """A stand-in for the kernel that spooled a local job (killed to play its death)."""
    proc = subprocess.Popen(["sleep", "60"])
    ticks = (hostqueue.proc_stat(proc.pid) or (0, 0))[1]
    return proc, {"pid": proc.pid, "ticks": ticks, "boot": hostqueue.BOOT}


def test_a_local_job_is_held_while_its_kernel_lives_and_run_once_it_died(tmp_path: Path) -> None:
    host = Host(tmp_path)
    kernel, owner = _owner()
    try:
        job = host.spool("held", f"echo ran >> {tmp_path}/runs", owner=owner)
        for _ in range(3):
            host.dispatcher.last_scan = 0.0
            host.dispatcher.step()
        assert not (job / hostqueue.STATE).exists()  # its kernel runs it: nothing started here
        assert host.dispatcher.held
    finally:
        kernel.kill()
        kernel.wait()
    host.settle()
    assert (tmp_path / "runs").read_text() == "ran\n"
    assert [r["event"] for r in _state(job)] == ["running", "ended"]
    assert not list((host.q / "spool").iterdir())


def test_a_held_job_its_kernel_finished_and_took_out_is_forgotten(tmp_path: Path) -> None:
    host = Host(tmp_path)
    kernel, owner = _owner()
    try:
        job = host.spool("done-by-kernel", f"echo ran >> {tmp_path}/runs", owner=owner)
        host.dispatcher.last_scan = 0.0
        host.dispatcher.step()
        for entry in (host.q / "spool").iterdir():
            entry.unlink()  # what the kernel does when the job ended
        host.dispatcher.last_scan = 0.0
        host.dispatcher.step()
        assert not host.dispatcher.held and not host.dispatcher.jobs  # so it may exit
    finally:
        kernel.kill()
        kernel.wait()
    host.settle()
    assert not (tmp_path / "runs").exists() and not (job / hostqueue.STATE).exists()


def test_a_task_its_kernel_started_as_it_died_is_adopted_not_started_again(
    tmp_path: Path,
) -> None:
    """The kernel writes "claimed", starts the shell, then "running" with its pid: killed
    in between, the dispatcher finds the process by its working directory."""
    host = Host(tmp_path)
    kernel, owner = _owner()
    kernel.kill()
    kernel.wait()
    job = host.spool("claimed", f"echo ran >> {tmp_path}/runs", owner=owner)
    (job / hostqueue.STATE).write_text(json.dumps({"task": -1, "event": "claimed"}) + "\n")
    env = {k: v for k, v in os.environ.items() if k != hostqueue.TASK_VAR}
    shell = subprocess.Popen(["sleep", "0.5"], cwd=job, env=env)  # the shell it started
    host.dispatcher.last_scan = 0.0
    host.dispatcher.step()
    assert [(r["event"], r.get("pid")) for r in _state(job)][1:] == [("running", shell.pid)]
    shell.wait()
    (job / "status").write_text('{"event": "exit", "code": 0, "time": 1}\n')
    host.settle()
    assert not (tmp_path / "runs").exists()  # never run a second time
    assert _state(job)[-1] == {**_state(job)[-1], "event": "ended", "code": 0, "ok": True}


def test_a_claimed_task_that_already_ran_is_settled_by_its_status(tmp_path: Path) -> None:
    host = Host(tmp_path)
    kernel, owner = _owner()
    kernel.kill()
    kernel.wait()
    job = host.spool("ran", f"echo ran >> {tmp_path}/runs", owner=owner)
    (job / hostqueue.STATE).write_text(json.dumps({"task": -1, "event": "claimed"}) + "\n")
    (job / "status").write_text('{"event": "exit", "code": 3, "time": 1}\n')
    host.settle()
    assert not (tmp_path / "runs").exists()
    assert _state(job)[-1] == {**_state(job)[-1], "event": "ended", "code": 3, "ok": False}


def test_a_python_that_could_not_write_says_the_disk_may_be_full() -> None:
    """Exit code 120 (CPython could not flush its output at exit): the chaos run's full
    disk failed 156 direct jobs with a bare "exited with code 120"."""
    ended = {"task": -1, "event": "ended", "code": 120}
    obs = observe(_files(spec={"tasks": 0}, state=[ended]), False)
    assert obs.state == JobState.FAILED
    assert "could not write its output or result (is the disk" in obs.reason
