"""Grid Engine's dialect: golden job scripts, the script's own shell logic (task numbers,
success marks, the dependency guard, exit codes 99/100), ids, and parsing what a real
Grid Engine 8.1.9 printed.

``sge_samples/`` holds output captured from the cell of tests/cluster/sge.py:

- ``qstat_xml_r.xml``: ``qstat -xml -r -u cltest`` with job 51 running, array 52
  (``-t 1-12 -tc 3``) with tasks 1-3 running and 4-12 pending, 53 waiting for 51
  (``-hold_jid``), 54 held (``qsub -h``), 55 in error state (``-wd /nonexistent/dir``),
  56 asking for 64 slots of a 16-slot queue;
- ``qacct_j.txt``: ``qacct -j`` of 64 (exit 0), 65 (exit 3), 66 (killed at ``h_rt=0:0:2``),
  67 (``qdel`` while running) and array 68 (two tasks), as the backend's loop asks them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clusterlab as cl
from clusterlab.backends import sge, sge_script
from clusterlab.backends.base import ArraySpec, DependencyTarget, JobSpec, WatchTarget
from clusterlab.backends.sge import SgeBackend
from clusterlab.backends.sge_output import explain_submit_error, parse_qacct
from clusterlab.backends.statusdump import HEREDOC_END
from clusterlab.common import kinds as registry
from clusterlab.common.jobdir import StatusInfo, parse_status
from clusterlab.common.states import Cause, JobState
from clusterlab.config.resources import Resources
from clusterlab.core.model.settle import DEPENDENCY_FAILED, decide
from clusterlab.transports import LocalTransport
from clusterlab.transports.base import CommandResult
from tests.unit.script_samples import JOB_DIR, golden, sample_spec

SAMPLES = Path(__file__).parent / "sge_samples"
SGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]{0,63}$")
DEPS = [
    DependencyTarget("41", job_dir="/home/me/.clusterlab/jobs/prep"),
    DependencyTarget("42", 2, job_dir="/home/me/.clusterlab/jobs/squares"),
]


def backend(**profile: object) -> SgeBackend:
    return SgeBackend(cl.Profile(name="t", scheduler="sge", **profile), LocalTransport())  # type: ignore[arg-type]


def spec(b: SgeBackend, job_dir: str = JOB_DIR, **res: object) -> JobSpec:
    return sample_spec(b.dependency_ids(DEPS), job_dir, **res)


# -- the job script ---------------------------------------------------------------------------
def test_script_matches_golden_file() -> None:
    b = backend(sge_pe="mpi-smp")
    s = spec(
        b, cores=4, memory="8GB", time="1:00:00", queue="all.q", account="proj1", extra=["-P ml"]
    )
    script = b.job_script(s)
    assert script == golden("sge_job.sh", script)
    assert "#$ -pe mpi-smp 4" in script
    assert "#$ -l h_vmem=2304M" in script  # (8192 + 1024) / 4 slots: h_vmem is per slot
    assert "#$ -hold_jid 41,42" in script  # whole arrays: -hold_jid names no task
    # ...and the guard checks the very task waited for (task 2 = Grid Engine's 42.3)
    assert "/home/me/.clusterlab/jobs/prep/sge-ok /home/me/.clusterlab/jobs/squares/sge-ok.2" in (
        script
    )


def test_array_script_matches_golden_file() -> None:
    b = backend()
    s = sample_spec([], cores=1, time="10")
    s.array = ArraySpec(tasks=200, max_concurrent=5)
    script = b.job_script(s)
    assert script == golden("sge_array.sh", script)
    for line in ("#$ -t 1-200", "#$ -tc 5", "#$ -o /dev/null", 'TASK="${SGE_TASK_ID}"'):
        assert line in script.splitlines()
    lines = script.splitlines()
    # task numbers are mended before anything uses them, and before the user's setup
    assert (
        lines.index('TASK="${SGE_TASK_ID}"')
        < lines.index("TASK=$((TASK - 1))")
        < lines.index('exec >"stdout.$TASK" 2>"stderr.$TASK"')
        < lines.index("module load python/3.11")
    )


def test_defaults_leave_scheduler_defaults() -> None:
    script = backend().job_script(sample_spec([]))
    for absent in ("h_vmem", "h_rt", "-pe", "-q ", "-A ", "#$ -hold_jid", "for mark in"):
        assert absent not in script
    assert "#$ -w e" in script  # a request no queue can ever run is refused at once


def test_resources_in_grid_engine_terms() -> None:
    d = backend().directives(sample_spec([], memory="200MB", time="2-01:30:00"))
    assert "#$ -l h_vmem=1224M" in d and "#$ -l h_rt=49:30:00" in d
    assert not any("-pe" in x for x in d)  # one core: no parallel environment


@pytest.mark.parametrize(
    ("res", "why"),
    [
        ({"gpus": 1}, "no standard GPU resource"),
        ({"gpus": "a100:1"}, "no standard GPU resource, typed or not"),
        ({"nodes": 2}, "MPI parallel environment"),
        ({"qos": "high"}, "Grid Engine has no QOS"),
        ({"constraint": "skylake"}, "no standard node features"),
        ({"extra": ["--qos=high"]}, "looks like a SLURM option"),
        ({"extra": ["-t 1-5"]}, "arrays come from .map"),
        ({"extra": ["-hold_jid 7"]}, "dependencies come from after="),
        ({"extra": ["-o /tmp/out"]}, "runs the job in its job directory"),
        ({"extra": ["-wd /tmp"]}, "runs the job in its job directory"),
        ({"extra": ["-S /bin/bash"]}, "writes the job script"),
    ],
)
def test_what_grid_engine_cannot_take_is_refused_with_a_sentence(
    res: dict[str, object], why: str
) -> None:
    with pytest.raises(cl.ResourceError, match=why):
        backend().job_script(sample_spec([], **res))


def test_extras_pass_through() -> None:
    d = backend().directives(sample_spec([], extra=["-P ml", "-l gpu=1", "-w n"]))
    assert d[-3:] == ["#$ -P ml", "#$ -l gpu=1", "#$ -w n"]  # the user's -w comes last


def test_waiting_for_a_job_whose_directory_is_unknown_is_refused() -> None:
    with pytest.raises(cl.ResourceError, match="checks their success in their job directories"):
        backend().job_script(sample_spec(["77"]))
    b = backend()
    b.dependency_ids([DependencyTarget("7; rm -rf ~", job_dir="/x")])
    with pytest.raises(cl.ResourceError, match="not a Grid Engine job id"):
        b.directives(sample_spec(["7; rm -rf ~"]))


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_any_function_name_becomes_a_valid_job_name(name: str) -> None:
    s = sample_spec([])
    s.name = name
    header = [ln for ln in backend().job_script(s).splitlines() if ln.startswith("#$ -N ")]
    assert len(header) == 1 and SGE_NAME.match(header[0][len("#$ -N ") :])


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\n\r"),
        min_size=1,
        max_size=30,
    )
)
def test_job_dirs_never_reach_a_directive_and_survive_any_characters(weird: str) -> None:
    b = backend()
    b.dependency_ids([DependencyTarget("9", job_dir=f"/tmp/dep/{weird}")])
    job_dir = f"/tmp/x/{weird}"
    script = b.job_script(sample_spec(["9"], job_dir))
    directives = [ln for ln in script.splitlines() if ln.startswith("#$")]
    assert not any(job_dir in ln or f"/tmp/dep/{weird}" in ln for ln in directives)
    line = next(ln for ln in script.split("\n") if ln.startswith("for mark in "))
    out = subprocess.run(
        ["sh", "-c", line + ' printf %s "$mark"; done'], capture_output=True, check=True
    ).stdout.decode("utf-8", "surrogateescape")
    assert out == f"/tmp/dep/{weird}/sge-ok"


# -- the script's shell logic, run for real (a fake "python" plays the runner) ----------------
def run_script(
    tmp_path: Path, s: JobSpec, b: SgeBackend, code: int, task: int | None = None
) -> int:
    """Run ``s``'s script as Grid Engine would, its runner exiting with ``code``."""
    job_dir = Path(s.job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "runner.py").write_text(f"echo runner ran; exit {code}\n")
    script = job_dir / "job.sh"
    script.write_text(b.job_script(s))
    env = {"PATH": "/usr/bin:/bin", "SGE_TASK_ID": str(task) if task else "undefined"}
    with (job_dir / "stdout").open("a") as out, (job_dir / "stderr").open("a") as err:
        if s.array:  # -o/-e /dev/null: the script writes stdout.T/stderr.T itself
            out = err = subprocess.DEVNULL  # type: ignore[assignment]
        run = subprocess.run(["sh", script], env=env, cwd=tmp_path, stdout=out, stderr=err)
    return run.returncode


def fake_spec(tmp_path: Path, name: str, after: list[str] | None = None) -> JobSpec:
    s = sample_spec(after or [], str(tmp_path / name))
    s.python, s.setup = ["sh"], []
    return s


def test_a_job_that_succeeds_leaves_its_mark_and_one_that_fails_does_not(
    tmp_path: Path,
) -> None:
    b = backend()
    ok, bad = fake_spec(tmp_path, "ok"), fake_spec(tmp_path, "bad")
    assert run_script(tmp_path, ok, b, 0) == 0 and (tmp_path / "ok/sge-ok").exists()
    assert run_script(tmp_path, bad, b, 1) == 1 and not (tmp_path / "bad/sge-ok").exists()
    (tmp_path / "bad/sge-ok").write_text("")  # a mark of an earlier run is removed first
    assert run_script(tmp_path, bad, b, 1) == 1 and not (tmp_path / "bad/sge-ok").exists()


@pytest.mark.parametrize("code", [99, 100])
def test_exit_codes_grid_engine_reads_as_orders_leave_as_1(tmp_path: Path, code: int) -> None:
    s = fake_spec(tmp_path, "job")
    assert run_script(tmp_path, s, backend(), code) == 1
    status = (tmp_path / "job/status").read_text()
    assert f'"code": {code}' in status  # the status file keeps the real code


def test_array_tasks_count_from_zero(tmp_path: Path) -> None:
    s = fake_spec(tmp_path, "arr")
    s.array = ArraySpec(tasks=3)
    assert run_script(tmp_path, s, backend(), 0, task=3) == 0  # Grid Engine's task 3
    made = {p.name for p in (tmp_path / "arr").iterdir()} - {
        "job.sh",
        "runner.py",
        "stdout",
        "stderr",
    }
    assert made == {"sge-ok.2", "status.2", "stderr.2", "stdout.2"}
    assert (tmp_path / "arr/stdout.2").read_text() == "runner ran\n"


def test_the_guard_runs_a_dependent_only_after_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sge_script, "GUARD_TRIES", 0)  # no looking again for a missing mark
    b = backend()
    prep = fake_spec(tmp_path, "prep")
    after = b.dependency_ids([DependencyTarget("5", job_dir=prep.job_dir)])
    dependent = fake_spec(tmp_path, "dep", after)
    assert run_script(tmp_path, prep, b, 1) == 1
    assert run_script(tmp_path, dependent, b, 0) == 1
    status = (tmp_path / "dep/status").read_text()
    assert json.loads(status.splitlines()[-1]) == {"event": sge.GUARD_EVENT}
    assert "runner ran" not in (tmp_path / "dep/stdout").read_text()
    assert "a job it waits for did not succeed" in (tmp_path / "dep/stderr").read_text()
    assert run_script(tmp_path, prep, b, 0) == 0
    (tmp_path / "dep/status").unlink()
    assert run_script(tmp_path, dependent, b, 0) == 0
    assert "runner ran" in (tmp_path / "dep/stdout").read_text()


class Stub:
    """A transport answering the poll script (qstat, then status files) and commands."""

    label = "stub"

    def __init__(self, qstat: str, status: dict[str, bytes], run: CommandResult) -> None:
        self.qstat, self.status, self.result = qstat, status, run
        self.ran: list[list[str]] = []

    def _poll(self, script: str) -> CommandResult:
        marker = re.search(r"--clusterlab-[0-9a-f]+--", script)
        assert marker
        listing = script.split(f"<<'{HEREDOC_END}'\n", 1)[1].split(f"{HEREDOC_END}\n")[0]
        dump = b"".join(
            f"=== {d}\n==> status <==\n".encode() + self.status.get(d, b"")
            for d in listing.splitlines()
        )
        return CommandResult(0, f"{self.qstat}\n{marker.group()} 0\n".encode() + dump, b"")

    def run(self, argv: list[str], stdin: bytes | None = None) -> CommandResult:
        if argv == ["sh", "-s"] and stdin:  # the poll script, on stdin
            return self._poll(stdin.decode())
        self.ran.append(argv)
        return self.result


def test_a_dependent_stopped_by_its_guard_is_cancelled_for_its_dependency() -> None:
    stopped = json.dumps({"event": sge.GUARD_EVENT}).encode() + b"\n"
    empty = (SAMPLES / "qstat_xml_r.xml").read_text().split("<queue_info>")[0] + "</job_info>"
    stub = Stub(empty, {"/j/dep": stopped}, CommandResult(0, b"", b""))
    b = SgeBackend(cl.Profile(name="t", scheduler="sge"), stub)  # type: ignore[arg-type]
    obs = b.poll([WatchTarget("70", "/j/dep")])["70"]
    assert obs.cause == Cause.DEPENDENCY_NEVER_SATISFIED
    decision = decide(JobState.PENDING, obs, cl_status(stopped))
    assert (decision.state, decision.reason, decision.cancel) == (
        JobState.CANCELLED,
        DEPENDENCY_FAILED,
        True,
    )


def cl_status(data: bytes) -> StatusInfo:
    return parse_status(data)


# -- ids and submission -----------------------------------------------------------------------
@given(st.integers(1, 10**7), st.integers(0, 10**5))
def test_task_ids_are_one_based_and_round_trip(job: int, task: int) -> None:
    b = backend()
    assert b.task_id(str(job), task) == f"{job}.{task + 1}"
    assert b.split_task_id(b.task_id(str(job), task)) == (str(job), task)


def test_plain_ids_are_not_tasks() -> None:
    b = backend()
    assert b.split_task_id("123") is None and b.split_task_id("123.0") is None
    assert b.dependency_ids([*DEPS, DEPS[0]]) == ["41", "42.3"]


def test_qsub_terse_output() -> None:
    b = backend()
    assert b.parse_submit("5\n") == "5"
    assert b.parse_submit("15.1-40:1\n") == "15"  # an array: its job id
    with pytest.raises(cl.TransportError, match="no job id"):
        b.parse_submit("Your job 5 has been submitted\n")


def test_qsub_refusals_become_sentences() -> None:
    # as qsub 8.1.9 printed them (stderr, then "Exiting.")
    said = {
        'Unable to run job: job rejected: the requested parallel environment "nosuchpe" '
        "does not exist\nExiting.\n": "set the profile's sge_pe",
        'Unable to run job: Job was rejected because job requests unknown queue "nosuch.q"'
        "\nExiting.\n": "the queue does not exist",
        'Unable to run job: unknown resource "nosuchres"\nExiting.\n': "does not know a resource",
        "Unable to run job: job rejected: you tried to submit a job with more than 75000 "
        "tasks\nExiting.\n": "use chunksize=",
        "Unable to run job: error: no suitable queues.\nExiting.\n": "no queue can run it",
    }
    for stderr, sentence in said.items():
        text = explain_submit_error(stderr)
        assert sentence in text and "Exiting." not in text and "Unable to run job" in text


def test_commands_source_the_settings_file_when_the_profile_names_one(tmp_path: Path) -> None:
    assert backend().submit_argv("job.sh", sample_spec([])) == ["qsub", "-terse", "job.sh"]
    (tmp_path / "settings.sh").write_text("echo noise; SGE_CELL=lab; export SGE_CELL\n")
    for where in (str(tmp_path / "settings.sh"), "~/settings.sh"):
        wrap = backend(sge_settings=where).cancel_argv(["5"])[:-2]
        argv = [*wrap, "sh", "-c", "echo $SGE_CELL"]
        res = subprocess.run(argv, capture_output=True, text=True, env={"HOME": str(tmp_path)})
        assert res.stdout == "lab\n"  # and not the settings file's own output
    argv = backend(sge_settings="/nonexistent/settings.sh").query_argv(["5"])
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert res.returncode == 127 and "cannot read the Grid Engine settings file" in res.stderr


def test_qdel_of_jobs_that_already_left_is_nothing_to_cancel() -> None:
    gone = CommandResult(1, b'denied: job "51" does not exist\n', b"")
    stub = Stub("", {}, gone)
    b = SgeBackend(cl.Profile(name="t", scheduler="sge"), stub)  # type: ignore[arg-type]
    b.cancel([WatchTarget("51", "/j"), WatchTarget("52.3", "/k", True), WatchTarget("x;y", "")])
    assert stub.ran == [["qdel", "51", "52.3"]]
    stub.result = CommandResult(1, b"", b"error: commlib error: got select error\n")
    with pytest.raises(cl.TransportError, match="qdel failed"):
        b.cancel([WatchTarget("51", "/j")])


def test_limits_come_from_the_configuration_and_the_queues() -> None:
    out = (
        "max_aj_tasks                 75000\n"
        "CLUSTER QUEUE                   CQLOAD   USED    RES  AVAIL  TOTAL aoACDS  cdsuE  \n"
        "--------------------------------------------------------------------------------\n"
        "all.q                             0.63      3      0     13     16      0      0 \n"
        "gpu.q                             0.10      1      0      1      4      2      0 \n"
    )
    stub = Stub("", {}, CommandResult(0, out.encode(), b""))
    b = SgeBackend(cl.Profile(name="t", scheduler="sge"), stub)  # type: ignore[arg-type]
    assert b.max_array_size() == 75000
    assert b.capacity(Resources(cores=2)) == 9  # (3 + 13 + 1 + 1) // 2: not disabled ones
    assert b.capacity(Resources(partition="all.q@vm")) == 16
    assert len(stub.ran) == 1  # asked once


# -- what a real Grid Engine printed ----------------------------------------------------------
def test_parse_real_qstat_xml() -> None:
    b = backend()
    b._throttles["52"] = 3  # submitted with -tc 3 by this backend
    parsed = b.parse_query((SAMPLES / "qstat_xml_r.xml").read_text(), "", 0)
    assert set(parsed) == {"51", "53", "54", "55", "56"} | {f"52.{t}" for t in range(1, 13)}
    obs = {k: b._observation(*v) for k, v in parsed.items()}
    assert obs["51"].state == JobState.RUNNING and obs["51"].reason == ""
    assert [obs[f"52.{t}"].state for t in (1, 2, 3, 4, 12)] == [JobState.RUNNING] * 3 + [
        JobState.PENDING
    ] * 2
    assert obs["52.4"].reason.startswith("waiting under the array's concurrency limit (%N)")
    assert b.split_task_id("52.4") == ("52", 3)
    assert obs["53"].reason == "waiting for the jobs it depends on" and obs["53"].cause is None
    assert obs["54"].reason == "held: release it with `qrls JOBID`"
    assert obs["55"].state == JobState.PENDING and "error state" in obs["55"].reason
    assert obs["56"].reason == "queued: waiting for a free slot"
    # a backend that did not submit array 52 (another process) cannot tell the throttle
    assert backend().parse_query((SAMPLES / "qstat_xml_r.xml").read_text(), "", 0)["52.4"] == (
        "qw",
        "queued",
    )


def test_parse_real_qacct_records() -> None:
    b = backend()
    parsed = b.parse_query((SAMPLES / "qacct_j.txt").read_text(), "", 0)
    assert set(parsed) == {"64", "65", "66", "67", "68.1", "68.2"}
    obs = {k: b._observation(*v) for k, v in parsed.items()}
    assert obs["64"].state == JobState.COMPLETED
    assert obs["65"].state == JobState.FAILED
    assert obs["65"].reason == "its job script exited with status 3 (see job.stderr())"
    assert (obs["66"].state, obs["66"].cause) == (JobState.FAILED, Cause.TIME_LIMIT)
    assert decide(JobState.RUNNING, obs["66"], cl_status(b""), time_limit_s=2).state == (
        JobState.TIMEOUT
    )
    assert obs["67"].state == JobState.CANCELLED
    assert obs["67"].reason == "deleted (qdel) by you or an administrator"


def test_qacct_limits_other_than_h_rt() -> None:
    record = "jobnumber 9\nfailed 37  : qmaster enforced h_rt, h_cpu, or h_vmem limit\n"
    vmem = parse_qacct(f"{record}ru_wallclock 3s\ncategory -l h_rt=600,h_vmem=1224M\n")
    assert vmem["9"] == ("failed", "h_vmem")  # far from its time limit: the memory one
    assert backend()._observation(*vmem["9"]).cause == Cause.OUT_OF_MEMORY
    assert parse_qacct("jobnumber 9\nfailed 26  : opening input/output file\nexit_status 0\n")[
        "9"
    ] == ("failed", "failed 26  : opening input/output file")


def test_qacct_is_asked_about_a_job_at_most_every_few_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b, clock = backend(), [100.0]
    monkeypatch.setattr(sge.time, "monotonic", lambda: clock[0])
    assert b.history_argv(["5", "6.2", "x;y"]) == ["sh", "-c", sge._QACCT, "sh", "5"]
    assert b.history_argv(["5"]) is None  # the accounting file is read whole: not again yet
    clock[0] += sge.HISTORY_EVERY
    assert b.history_argv(["5", "7"]) == ["sh", "-c", sge._QACCT, "sh", "5", "7"]


def test_qstat_errors() -> None:
    with pytest.raises(cl.TransportError, match="qstat failed"):
        backend().parse_query("", "error: commlib error: access denied (client IP resolved", 1)
    with pytest.raises(cl.TransportError, match="not XML"):
        backend().parse_query("<job_info><job_list>", "", 0)
    entity = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><job_info>&a;</job_info>'
    with pytest.raises(cl.TransportError, match="document type"):
        backend().parse_query(entity, "", 0)


# -- the profile and the registry -------------------------------------------------------------
def test_profile_fields_for_grid_engine() -> None:
    p = cl.Profile(name="g", scheduler="sge", sge_settings="~/sge/settings.sh", sge_pe="mpi*")
    assert (p.sge_pe, p.sge_settings) == ("mpi*", "~/sge/settings.sh")
    assert cl.Profile(name="g", scheduler="sge").sge_pe == "smp"
    with pytest.raises(cl.ProfileError, match="relative path"):
        cl.Profile(name="g", scheduler="sge", sge_settings="common/settings.sh")
    with pytest.raises(cl.ProfileError, match="qconf -spl"):
        cl.Profile(name="g", scheduler="sge", sge_pe="smp 4")
    kind = registry.get("sge")
    assert kind.remote and registry.TASK_DEPENDENCIES not in kind.features


def test_gpus_become_the_sites_resource_once_the_profile_names_it() -> None:
    """Grid Engine has no standard GPU resource: with the profile's sge_gpu_resource set,
    gpus=N is `-l NAME=N`; without it, the refusal says to set it."""
    named = backend(sge_gpu_resource="gpu")
    assert "#$ -l gpu=2" in named.directives(sample_spec([], gpus=2))
    with pytest.raises(cl.ResourceError, match="set the profile's sge_gpu_resource"):
        backend().directives(sample_spec([], gpus=2))
    with pytest.raises(cl.ProfileError, match="as `qconf -sc` lists it"):
        cl.Profile(name="g", scheduler="sge", sge_gpu_resource="gpu=1 -l x")
