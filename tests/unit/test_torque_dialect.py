"""TORQUE's dialect of PBS: golden scripts, ``qstat -f -1`` parsing, flavor detection.

The ``qstat -f`` sample is Adaptive Computing's "Job Exit Status" example (TORQUE
Administrator Guide, docs.adaptivecomputing.com/torque/4-2-7 .../jobExitStatus.htm),
printed with ``-1`` (one line per attribute); the exit codes are that page's table
(-10 memory, -11 walltime, -12 CPU time in TORQUE 6.1) and 256+signal for a killed job.
"""

from __future__ import annotations

import pytest

import clusterlab as cl
from clusterlab.backends.base import ArraySpec, JobSpec
from clusterlab.backends.pbs import PbsBackend
from clusterlab.backends.torque import TorqueBackend, detect_flavor, parse_qstat_f
from clusterlab.common import kinds as registry
from clusterlab.common.states import Cause, JobState
from clusterlab.transports import LocalTransport
from clusterlab.transports.base import CommandResult
from tests.unit.script_samples import JOB_DIR, golden, sample_spec

QSTAT_F1 = """\
Job Id: 179.host
    Job_Name = STDIN
    Job_Owner = user@host
    job_state = C
    queue = batchq
    server = host
    Checkpoint = u
    ctime = Fri Aug 29 14:55:55 2008
    Error_Path = host:/opt/moab/STDIN.e179
    exec_host = node1/0
    Hold_Types = n
    Join_Path = n
    Keep_Files = n
    Mail_Points = a
    mtime = Fri Aug 29 14:55:55 2008
    Output_Path = host:/opt/moab/STDIN.o179
    Priority = 0
    qtime = Fri Aug 29 14:55:55 2008
    Rerunable = True
    Resource_List.ncpus = 2
    Resource_List.nodect = 1
    Resource_List.nodes = node1
    Variable_List = PBS_O_HOME=/home/user,PBS_O_LOGNAME=user,PBS_O_WORKDIR=/opt/moab
    etime = Fri Aug 29 14:55:55 2008
    exit_status = -1

Job Id: 180[2].host
    Job_Name = sweep-2
    job_state = R
    exec_host = node2/0

Job Id: 180[3].host
    Job_Name = sweep-3
    job_state = H
    Hold_Types = l

Job Id: 181.host
    Job_Name = after
    job_state = H
    Hold_Types = s
    depend = afterok:179.host@host
"""


def backend() -> TorqueBackend:
    b = TorqueBackend(cl.Profile(name="t", scheduler="pbs", pbs_flavor="torque"), LocalTransport())
    b._server = (False, 10000)
    return b


def spec(**res: object) -> JobSpec:
    return sample_spec(["41.pbs01", "42[].pbs01"], JOB_DIR, **res)


def test_scripts_match_golden_files() -> None:
    script = backend().job_script(
        spec(cores=4, memory="8GB", time="1:00:00", gpus=1, queue="batch", account="proj1")
    )
    assert script == golden("torque_job.sh", script)
    assert "#PBS -l nodes=1:ppn=4:gpus=1" in script and "#PBS -l mem=8192mb" in script
    assert "#PBS -W depend=afterok:41.pbs01,afterokarray:42[].pbs01" in script
    s = spec(cores=1, time="10")
    s.array = ArraySpec(tasks=200, max_concurrent=5)
    array = backend().job_script(s)
    assert array == golden("torque_array.sh", array)
    assert "#PBS -t 0-199%5" in array and 'TASK="${PBS_ARRAYID}"' in array
    s.array = ArraySpec(tasks=1)
    assert "#PBS -t 0\n" in backend().job_script(s)  # TORQUE takes one index as is


def test_names_fit_torques_limit() -> None:
    d = backend().directives(sample_spec([], JOB_DIR))
    assert d[0] == "#PBS -N train_model"
    long = sample_spec([], JOB_DIR)
    long.name = "a_rather_long_function_name"
    assert backend().directives(long)[0] == "#PBS -N a_rather_long_f"  # 15 characters


def test_extra_cannot_take_the_array_option() -> None:
    with pytest.raises(cl.ResourceError, match="arrays come from .map"):
        backend().directives(spec(extra=["-t 1-5"]))
    assert "#PBS -l naccesspolicy=singlejob" in backend().directives(
        spec(extra=["-l naccesspolicy=singlejob"])
    )


def test_qstat_f1_is_parsed_into_states_and_sentences() -> None:
    b = backend()
    jobs = parse_qstat_f(QSTAT_F1)
    assert jobs["179.host"]["Variable_List"].endswith("PBS_O_WORKDIR=/opt/moab")
    codes = b.parse_query(QSTAT_F1, "", 0)
    assert codes["179.host"] == ("C:failed", "Exit_status -1")
    assert b.reason(*codes["179.host"]).startswith("PBS could not run it on its node")
    assert codes["180[2].host"] == ("R", "")
    assert b.split_task_id("180[2].host") == ("180[].host", 2)
    assert b.reason(*codes["180[3].host"]) == "waiting under the array's concurrency limit (%N)"
    assert b.reason(*codes["181.host"]) == "waiting for the jobs it depends on"
    for code, state in [("C:finished", JobState.COMPLETED), ("C:deleted", JobState.CANCELLED)]:
        assert b.STATE_MAP[code] == state


@pytest.mark.parametrize(
    ("exit_status", "reason", "cause"),
    [
        ("-11", "walltime", Cause.TIME_LIMIT),
        ("-10", "mem", Cause.OUT_OF_MEMORY),
        ("271", "signal 15", None),
        ("0", "", None),
    ],
)
def test_exit_status_says_how_it_ended(exit_status: str, reason: str, cause: Cause | None) -> None:
    text = f"Job Id: 5.h\n    job_state = C\n    exit_status = {exit_status}\n"
    code = backend().parse_query(text, "", 0)["5.h"]
    assert code[1] == reason
    assert backend().CAUSE_MAP.get(code[1]) == cause


def test_a_deleted_dependent_says_its_dependency_failed() -> None:
    text = "Job Id: 6.h\n    job_state = C\n    depend = afterok:5.h@h\n"
    code = backend().parse_query(text, "", 0)["6.h"]
    assert code == ("C:deleted", "dependency failed")
    assert backend().CAUSE_MAP.get("dependency failed") == Cause.DEPENDENCY_NEVER_SATISFIED


def test_unknown_jobs_are_not_an_error_but_others_are() -> None:
    assert backend().parse_query("", "qstat: Unknown Job Id Error 9.h\n", 153) == {}
    with pytest.raises(cl.TransportError, match="qstat failed"):
        backend().parse_query("", "qstat: cannot connect to server h (errno=111)\n", 1)
    assert backend().cancel_error_is_benign("qdel: Invalid state for job - COMPLETE 9.h\n")


class _Version:
    label = "stub"

    def __init__(self, out: str, rc: int = 0) -> None:
        self.result = CommandResult(rc, out.encode(), b"")

    def run(self, argv: list[str]) -> CommandResult:
        assert argv == ["qstat", "--version"]
        return self.result


def test_the_flavor_is_detected_from_qstat_version() -> None:
    assert detect_flavor(_Version("Version: 6.1.3\nCommit: 0123abc\n")) == "torque"  # type: ignore[arg-type]
    assert detect_flavor(_Version("pbs_version = 2022.1.0\n")) == "pro"  # type: ignore[arg-type]
    with pytest.raises(cl.TransportError, match="set the profile's pbs_flavor"):
        detect_flavor(_Version("qstat: command not found", 127))  # type: ignore[arg-type]
    make = registry.get("pbs").load()
    auto = cl.Profile(name="p", scheduler="pbs")
    assert auto.pbs_flavor == "auto"
    assert type(make(auto, _Version("Version: 6.1.3"))) is TorqueBackend  # type: ignore[arg-type]
    assert type(make(auto, _Version("pbs_version = 19.1"))) is PbsBackend  # type: ignore[arg-type]
    with pytest.raises(cl.ProfileError, match="pbs_flavor"):
        cl.Profile(name="p", scheduler="pbs", pbs_flavor="lsf")
