"""PBS Professional's dialect: golden job scripts, qstat parsing, maps, ids, hostile names.

The qstat samples below are laid out as ``qstat -f -F json`` prints them (the example in
Altair's design page PP-483, "Enhance output of qstat to make it more admin and script
friendly", pbspro.atlassian.net/wiki/display/PD/PP-483...), with the attribute values PBS
Pro documents or its own test suite expects (openpbs/openpbs: doc/man1/qsub.1B,
pbs_job_attributes.7B, src/include/job.h, src/scheduler/job_info.cpp,
test/tests/functional/pbs_exceeded_resources_notification.py, pbs_job_dependency.py,
pbs_reservations.py). Each sample says which.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clusterlab as cl
from clusterlab.backends.base import ArraySpec, DependencyTarget, JobSpec
from clusterlab.backends.pbs import CAUSE_MAP, REASON_MAP, STATE_MAP, PbsBackend
from clusterlab.common import kinds as registry
from clusterlab.common.states import Cause, JobState
from clusterlab.config.resources import parse_resources
from clusterlab.transports import LocalTransport
from clusterlab.transports.base import CommandResult
from tests.unit.script_samples import JOB_DIR, golden, sample_spec

# check_job_name() (openpbs src/lib/Libcmds/ck_job_name.c) for a -N value
PBS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]{0,229}$")


def backend(history: bool = True) -> PbsBackend:
    b = PbsBackend(cl.Profile(name="t", scheduler="pbs"), LocalTransport())
    b._server = (history, 10000)  # what `qstat -B -f -F json` would have said
    return b


def spec(job_dir: str = JOB_DIR, **res: object) -> JobSpec:
    return sample_spec(["41.pbs01", "42[].pbs01"], job_dir, **res)


# -- the job script ---------------------------------------------------------------------------
def test_script_matches_golden_file() -> None:
    script = backend().job_script(
        spec(
            cores=4,
            memory="8GB",
            time="1:00:00",
            gpus=1,
            queue="workq",
            account="proj1",
            nodes=1,
            tasks=2,
            extra=["-l place=excl", "-P myproject"],
        )
    )
    assert script == golden("pbs_job.sh", script)
    assert 'exec >"stdout" 2>"stderr"' in script  # PBS only copies -o/-e at the end


def test_array_script_matches_golden_file() -> None:
    s = spec(cores=1, time="10")
    s.array = ArraySpec(tasks=200, max_concurrent=5)
    script = backend().job_script(s)
    assert script == golden("pbs_array.sh", script)
    assert "#PBS -J 0-199%5" in script
    assert 'TASK="${PBS_ARRAY_INDEX}"' in script
    assert 'exec >"stdout.$TASK" 2>"stderr.$TASK"' in script
    # the redirect comes after cd and $TASK, before the user's setup lines
    lines = script.splitlines()
    assert (
        lines.index('TASK="${PBS_ARRAY_INDEX}"')
        < lines.index('exec >"stdout.$TASK" 2>"stderr.$TASK"')
        < lines.index("module load python/3.11")
    )


def test_one_task_array_uses_a_step_because_pbs_refuses_x_x() -> None:
    s = spec()
    s.array = ArraySpec(tasks=1)
    assert "#PBS -J 0-1:2" in backend().job_script(s)  # indices 0..1 by 2: only 0


def test_defaults_leave_scheduler_defaults() -> None:
    script = backend().job_script(spec())
    assert "select" not in script and "walltime" not in script and "-q " not in script


def test_resources_in_pbs_terms() -> None:
    d = backend().directives(spec(cores=8, memory="16GB", time="2-01:30:00", nodes=3, gpus=2))
    assert "#PBS -l select=3:ncpus=8:mem=16384mb:ngpus=2" in d
    assert "#PBS -l place=scatter" in d  # one chunk per node, like SLURM's --nodes
    assert "#PBS -l walltime=49:30:00" in d  # hours past 24: PBS has no day part


@pytest.mark.parametrize(
    ("asked", "select"),
    [
        ({"tasks": 4}, "-l select=1:ncpus=4:mpiprocs=4"),  # tasks without nodes: one node
        ({"tasks": 4, "cores": 2}, "-l select=1:ncpus=8:mpiprocs=4"),  # cores per task
        ({"nodes": 2}, "-l select=2:ncpus=1"),  # one task per node by default
        (
            {"nodes": 2, "tasks": 8, "cores": 4, "memory": "1GB", "gpus": 2},
            "-l select=2:ncpus=16:mpiprocs=4:mem=1024mb:ngpus=2",
        ),  # memory, GPUs per node
    ],
)
def test_nodes_and_tasks_become_chunks(asked: dict[str, object], select: str) -> None:
    d = backend().directives(spec(**asked))
    assert f"#PBS {select}" in d
    assert ("#PBS -l place=scatter" in d) == bool(asked.get("nodes"))


def test_tasks_that_do_not_share_out_over_nodes_are_refused() -> None:
    with pytest.raises(cl.ResourceError, match=r"same number of tasks.*e\.g\. tasks=4 or tasks=6"):
        backend().job_script(spec(nodes=2, tasks=5))


@pytest.mark.parametrize(
    ("asked", "says"),
    [
        ({"qos": "high"}, "PBS has no QOS"),
        ({"constraint": "skylake"}, "PBS has no node features"),
        ({"gpus": "a100:2"}, "PBS has no standard GPU type"),
    ],
)
def test_what_pbs_has_no_word_for_is_refused(asked: dict[str, object], says: str) -> None:
    with pytest.raises(cl.ResourceError, match=says):
        backend().job_script(spec(**asked))


def test_dependencies_name_whole_arrays_once() -> None:
    s = spec()
    s.after = ["7.pbs01", "8[3].pbs01", "8[].pbs01", "8[5].pbs01"]
    assert "#PBS -W depend=afterok:7.pbs01:8[].pbs01" in backend().directives(s)
    s.after = ["7; rm -rf ~"]
    with pytest.raises(cl.ResourceError, match="not a PBS job id"):
        backend().directives(s)


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("--qos=high", "looks like a SLURM option"),
        ("-o /tmp/out", "collects the job's output"),
        ("-joe", "collects the job's output"),
        ("-J 1-5", "arrays come from .map"),
        ("-N other", "job name comes from the function"),
        ("-W depend=afterok:1.s", "dependencies come from after="),
    ],
)
def test_extras_pbs_cannot_take_are_refused_with_a_sentence(extra: str, why: str) -> None:
    with pytest.raises(cl.ResourceError, match=why):
        backend().directives(spec(extra=[extra]))


def test_extras_pbs_takes_pass_through() -> None:
    d = backend().directives(spec(extra=["-P myproject", "-W group_list=lab", "-l place=excl"]))
    assert d[-3:] == ["#PBS -P myproject", "#PBS -W group_list=lab", "#PBS -l place=excl"]


def test_queue_names_are_validated() -> None:
    assert "#PBS -q gpu@pbs01" in backend().directives(spec(queue="gpu@pbs01"))
    with pytest.raises(cl.ResourceError, match="not a PBS queue name"):
        backend().directives(spec(queue="a_queue_name_too_long"))
    with pytest.raises(cl.ResourceError):
        parse_resources({"queue": "work q\n#PBS -l select=99"})


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_any_function_name_becomes_a_valid_pbs_name(name: str) -> None:
    s = spec()
    s.name = name
    header = [ln for ln in backend().job_script(s).splitlines() if ln.startswith("#PBS -N ")]
    assert len(header) == 1
    assert PBS_NAME.match(header[0][len("#PBS -N ") :])


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\n\r"),
        min_size=1,
        max_size=30,
    )
)
def test_job_dir_never_reaches_a_directive_and_survives_any_characters(weird: str) -> None:
    job_dir = f"/tmp/x/{weird}"
    script = backend().job_script(spec(job_dir=job_dir))
    assert not any(job_dir in ln for ln in script.splitlines() if ln.startswith("#PBS"))
    line = next(ln for ln in script.split("\n") if ln.startswith("JOB_DIR="))
    out = subprocess.run(
        ["sh", "-c", line + '\nprintf %s "$JOB_DIR"'], capture_output=True, check=True
    ).stdout.decode("utf-8", "surrogateescape")
    assert out == job_dir


# -- ids --------------------------------------------------------------------------------------
@given(
    st.integers(0, 10**9),
    st.integers(0, 10**6),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
)
def test_task_ids_round_trip(seq: int, task: int, server: str) -> None:
    b = backend()
    array = f"{seq}[].{server}"
    assert b.task_id(array, task) == f"{seq}[{task}].{server}"
    assert b.split_task_id(b.task_id(array, task)) == (array, task)


def test_plain_ids_are_not_tasks() -> None:
    b = backend()
    assert b.split_task_id("123.pbs01") is None
    assert b.split_task_id("124[].pbs01") is None
    assert b.task_id("124[]", 2) == "124[2]"


def test_dependency_ids_spell_each_array_once() -> None:
    targets = [
        DependencyTarget("5.s"),
        DependencyTarget("6[].s", 0),
        DependencyTarget("6[].s", 3),
        DependencyTarget("5.s"),
    ]
    assert backend().dependency_ids(targets) == ["5.s", "6[].s"]


# -- submit, query, cancel --------------------------------------------------------------------
def test_qsub_output() -> None:
    b = backend()
    assert b.parse_submit("1234.pbs01.example.edu\n") == "1234.pbs01.example.edu"
    assert b.parse_submit("1235[].pbs01\n") == "1235[].pbs01"
    with pytest.raises(cl.TransportError, match="no job id"):
        b.parse_submit("qsub: would block\n")


def test_query_argv_asks_history_only_when_the_server_keeps_it() -> None:
    ids = ["12.s", "13[].s", "14; reboot"]
    assert backend().query_argv(ids) == ["qstat", "-f", "-F", "json", "-t", "-x", "12.s", "13[].s"]
    assert "-x" not in backend(history=False).query_argv(ids)
    assert backend().query_argv(["$(reboot)"]) == ["true"]  # never `qstat` of every job


class _Answer:
    """A transport that answers every command with one canned result."""

    def __init__(self, out: str, rc: int = 0) -> None:
        self.result = CommandResult(rc, out.encode(), b"")
        self.label = "stub"

    def run(self, argv: list[str]) -> CommandResult:
        assert argv == ["qstat", "-B", "-f", "-F", "json"]
        return self.result


def test_server_attributes_are_read_once() -> None:
    # `qstat -Bf -F json` (PP-483 applies -F json to server status); job_history_enable
    # defaults to False and max_array_size to 10000 (pbs_server_attributes.7B).
    out = json.dumps(
        {
            "timestamp": 1479277336,
            "pbs_version": "14.1",
            "pbs_server": "vbox",
            "Server": {"vbox": {"job_history_enable": "True", "max_array_size": 500}},
        }
    )
    b = PbsBackend(cl.Profile(name="t", scheduler="pbs"), _Answer(out))  # type: ignore[arg-type]
    assert b.max_array_size() == 500 and "-x" in b.query_argv(["1.vbox"])
    b = PbsBackend(cl.Profile(name="t", scheduler="pbs"), _Answer("", 1))  # type: ignore[arg-type]
    assert b.max_array_size() == 10000 and "-x" not in b.query_argv(["1.vbox"])


def _qstat(**jobs: dict[str, object]) -> str:
    return json.dumps(
        {"timestamp": 1479277336, "pbs_version": "14.1", "pbs_server": "vbox", "Jobs": jobs}
    )


NO_CPUS = "Insufficient amount of resource: ncpus (R: 4 A: 2 T: 2)"
# PP-483's example job, as far as the page shows it: queued, not held.
QUEUED = {
    "Job_Name": "STDIN",
    "Job_Owner": "root@vbox",
    "job_state": "Q",
    "queue": "workq",
    "server": "vbox",
    "Checkpoint": "u",
    "ctime": "Fri Nov 11 17:57:05 2016",
    "Error_Path": "vbox:/home/nithinj/Tasks/overlay/STDIN.e1",
    "Hold_Types": "n",
    "Join_Path": "n",
}


def test_parse_queued_running_and_held() -> None:
    b = backend()
    parsed = b.parse_query(
        _qstat(
            **{
                "1.vbox": QUEUED,
                # the scheduler's comment for a job that does not fit (job_info.cpp:
                # "Not Running: " + "Insufficient amount of resource: %s %s")
                "2.vbox": {**QUEUED, "comment": f"Not Running: {NO_CPUS}"},
                # req_runjob.c: "Job run at %a %b %d at %H:%M on <exec_vnode>"
                "3.vbox": {
                    **QUEUED,
                    "job_state": "R",
                    "substate": 42,
                    "comment": "Job run at Fri Nov 11 at 17:58 on (vbox:ncpus=1)",
                },
                # a dependent waits held: state H, Hold_Types s, substate 22 (DEPNHOLD)
                "4.vbox": {
                    **QUEUED,
                    "job_state": "H",
                    "Hold_Types": "s",
                    "substate": 22,
                    "depend": "afterok:3.vbox@vbox",
                },
                "5.vbox": {**QUEUED, "job_state": "H", "Hold_Types": "u", "substate": 20},
            }
        ),
        "",
        0,
    )
    obs = {k: b._observation(*v) for k, v in parsed.items()}
    assert obs["1.vbox"].state == JobState.PENDING and obs["1.vbox"].reason.startswith("queued")
    assert obs["2.vbox"].reason == (
        "waiting for resources: not enough free cores (Insufficient amount of resource: "
        "ncpus (R: 4 A: 2 T: 2))"
    )
    assert obs["3.vbox"].state == JobState.RUNNING and obs["3.vbox"].reason == ""
    assert obs["4.vbox"].reason == "waiting for the jobs it depends on"
    assert obs["4.vbox"].cause is None  # waiting, not failed
    assert obs["5.vbox"].reason == "held by you: release it with `qrls JOBID`"


def test_parse_how_finished_jobs_ended() -> None:
    b = backend()
    parsed = b.parse_query(
        _qstat(
            **{
                "10.vbox": {**QUEUED, "job_state": "F", "substate": 92, "Exit_status": 0},
                # pbs_exceeded_resources_notification.py: F, "... and exceeded resource
                # walltime", Exit_status -29 (JOB_EXEC_KILL_WALLTIME); mem: -27
                "11.vbox": {
                    **QUEUED,
                    "job_state": "F",
                    "substate": 93,
                    "Exit_status": -29,
                    "comment": "Job run at Fri Nov 11 at 17:58 on (vbox:ncpus=1) and exceeded "
                    "resource walltime",
                },
                "12.vbox": {**QUEUED, "job_state": "F", "substate": 93, "Exit_status": -27},
                # pbs_reservations.py: a deleted running job is F with Exit_status 271
                # (256 + SIGTERM); substate 91 is TERMINATED (job.h)
                "13.vbox": {**QUEUED, "job_state": "F", "substate": 91, "Exit_status": 271},
                # pbs_job_dependency.py: the afterok dependent of a failed job is "deleted
                # as result of dependency": F, never ran, so no Exit_status
                "14.vbox": {
                    **QUEUED,
                    "job_state": "F",
                    "substate": 92,
                    "depend": "afterok:13.vbox@vbox",
                },
                "15.vbox": {**QUEUED, "job_state": "F", "substate": 93, "Exit_status": 265},
                "16.vbox": {**QUEUED, "job_state": "F", "substate": 93, "Exit_status": 2},
            }
        ),
        "",
        0,
    )
    obs = {k: b._observation(*v) for k, v in parsed.items()}
    assert obs["10.vbox"].state == JobState.COMPLETED  # the status file decides
    assert (obs["11.vbox"].state, obs["11.vbox"].cause) == (JobState.FAILED, Cause.TIME_LIMIT)
    assert obs["12.vbox"].cause == Cause.OUT_OF_MEMORY
    assert obs["13.vbox"].state == JobState.CANCELLED
    assert obs["13.vbox"].reason == "deleted (qdel) by you or an administrator"
    assert obs["14.vbox"].state == JobState.CANCELLED
    assert obs["14.vbox"].cause == Cause.DEPENDENCY_NEVER_SATISFIED
    assert obs["15.vbox"].reason.startswith("killed by signal 9 (SIGKILL)")
    assert obs["16.vbox"].reason == "its job script exited with status 2 (see job.stderr())"


def test_parse_array_and_its_subjobs() -> None:
    b = backend()
    # qstat -t lists the array (B: begun) and each subjob; queued subjobs carry the
    # scheduler's MAX_RUN_SUBJOBS comment (job_info.cpp); finished subjobs are X.
    stdout = _qstat(
        **{
            "20[].vbox": {**QUEUED, "job_state": "B", "array": "True", "max_run_subjobs": 1},
            "20[0].vbox": {**QUEUED, "job_state": "X", "substate": 92, "Exit_status": 0},
            "20[1].vbox": {**QUEUED, "job_state": "R", "substate": 42},
            "20[2].vbox": {
                **QUEUED,
                "comment": "Not Running: Number of concurrent running subjobs limit reached",
            },
        }
    )
    parsed = b.parse_query(stdout, "", 0)
    assert set(parsed) == {"20[].vbox", "20[0].vbox", "20[1].vbox", "20[2].vbox"}
    assert b.split_task_id("20[2].vbox") == ("20[].vbox", 2)
    task2 = b._observation(*parsed["20[2].vbox"])
    assert task2.reason.startswith("waiting under the array's concurrency limit (%N)")
    assert b._observation(*parsed["20[0].vbox"]).state == JobState.COMPLETED


def test_qstat_errors() -> None:
    b = backend()
    # qstat.c: prt_job_err() prints "qstat: Unknown Job Id <id>" and exits with
    # PBSE_UNKJOBID (15001), i.e. 153; a finished job without -x: PBSE_HISTJOBID (35)
    empty = json.dumps({"timestamp": 1, "pbs_version": "14.1", "pbs_server": "vbox"})
    assert b.parse_query(empty, "qstat: Unknown Job Id 99.vbox\n", 153) == {}
    gone = "qstat: 7.vbox Job has finished, use -x or -H to obtain historical job information"
    assert b.parse_query(_qstat(**{"1.vbox": QUEUED}), gone, 35) == {"1.vbox": ("Q", "queued")}
    with pytest.raises(cl.TransportError, match="qstat failed"):
        b.parse_query("", "Connection refused\nqstat: cannot connect to server vbox", 1)
    with pytest.raises(cl.TransportError, match="not JSON"):
        b.parse_query("Job Id: 1.vbox\n", "", 0)
    # history off (the default): qstat -x is refused; the next query goes without -x
    with pytest.raises(cl.TransportError, match="no job history"):
        b.parse_query("", "qstat: PBS is not configured to maintain job history 1.vbox", 0)
    assert "-x" not in b.query_argv(["1.vbox"])


def test_qdel_of_a_job_that_already_ended_is_nothing_to_cancel() -> None:
    b = backend()
    assert b.cancel_argv(["1.s", "2[].s", "2[3].s", "x;y"]) == ["qdel", "1.s", "2[].s", "2[3].s"]
    assert b.cancel_error_is_benign("qdel: Job has finished 1.s\nqdel: Unknown Job Id 2.s\n")
    assert not b.cancel_error_is_benign("qdel: Unauthorized Request  1.s\n")
    assert not b.cancel_error_is_benign("")


def test_submit_errors_become_advice() -> None:
    b = backend()
    assert b.explain_submit_error("qsub: Unknown queue\n").startswith("the queue does not exist")
    msg = b.explain_submit_error("qsub: Job violates queue and/or server resource limits\n")
    assert msg.startswith("more cores, memory, GPUs or time than the queue allows")
    assert "2021.1" in b.explain_submit_error("qsub: illegal -J value\n")
    assert b.explain_submit_error("qsub: something new\n") == "qsub: something new"


# -- maps -------------------------------------------------------------------------------------
def test_state_map_covers_pbs_job_states() -> None:
    # job_state letters of pbs_job_attributes.7B, ended ones split by how they ended
    for letter in "QHWTSUREBM":
        assert isinstance(STATE_MAP[letter], JobState)
    for letter in "FX":
        assert STATE_MAP[f"{letter}:finished"] == JobState.COMPLETED
        assert STATE_MAP[f"{letter}:failed"] == JobState.FAILED
        assert STATE_MAP[f"{letter}:terminated"] == JobState.CANCELLED
        assert STATE_MAP[f"{letter}:deleted"] == JobState.CANCELLED


def test_causes_and_reasons() -> None:
    assert CAUSE_MAP["walltime"] == Cause.TIME_LIMIT
    assert CAUSE_MAP["dependency failed"] == Cause.DEPENDENCY_NEVER_SATISFIED
    assert all(" " in sentence for sentence in REASON_MAP.values())
    b = backend()
    assert b.reason("Q", "") == ""
    assert b.reason("Q", "Not Running: Something new") == "PBS says: Something new"
    assert b.reason("F:failed", "Exit_status -1").startswith("PBS could not run it on its node")
    never = b.reason("Q", "Can Never Run: Insufficient amount of queue resource: ncpus (R: 9)")
    assert never.startswith("can never run as requested: Insufficient amount of queue resource")


def test_registry_entry() -> None:
    kind = registry.get("pbs")
    assert kind.label == "PBS Pro / TORQUE"
    pro = cl.Profile(name="p", scheduler="pbs", pbs_flavor="pro")
    assert type(kind.load()(pro, LocalTransport())) is PbsBackend
    assert kind.features == {
        registry.ARRAYS,
        registry.THROTTLE,
        registry.DEPENDENCIES,
        "over SSH",
        registry.NODES,
        registry.TASKS,
    }
    assert registry.TASK_DEPENDENCIES not in kind.features  # afterok names whole arrays
    # what PBS has no word for is refused with a sentence, never ignored
    assert set(kind.refusals) == {registry.QOS, registry.CONSTRAINT, registry.GPU_TYPES}
    assert not kind.ignores
    assert cl.Profile(name="p", scheduler="PBS", host="login.example.edu").scheduler == "pbs"


def test_gpus_use_the_profiles_gpu_resource_name() -> None:
    """Sites that define their own GPU chunk resource (not PBS's ngpus) name it in the
    profile's pbs_gpu_resource; gpus=N asks for that, per chunk."""
    named = PbsBackend(
        cl.Profile(name="t", scheduler="pbs", pbs_gpu_resource="gpu"), LocalTransport()
    )
    named._server = (True, 10000)
    assert "#PBS -l select=2:ncpus=1:gpu=3" in named.directives(spec(nodes=2, gpus=3))
    assert cl.Profile(name="t", scheduler="pbs").pbs_gpu_resource == "ngpus"
    with pytest.raises(ValueError, match="name of the GPU resource"):
        cl.Profile(name="g", scheduler="pbs", pbs_gpu_resource="gpu=1 -l x")
