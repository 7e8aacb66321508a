"""The site-like SLURM sandbox is what it claims: two namespace nodes that one job spans,
partitions where a `high` job really preempts a `low` one, limits refused at submit, and
accounting (`sacct`, `sshare`) for the ssh user.

Why: the multi-node, preemption, discovery and right-sizing features are tested against
this sandbox; if it silently ran everything on one node, or never preempted, or had no
accounting, those tests would pass for the wrong reason. Everything here goes through
plain `ssh` as the sandbox user (what a user of a real cluster has), or through a
clusterlab SLURM profile; names come from SandboxInfo, never hard-coded.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable

import pytest

import clusterlab as cl
from tests.conftest import ssh_profile

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(300)]


def _ssh(info: object, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One command on the sandbox's login node as its user, as `ssh host command` runs it."""
    argv = [
        "ssh", "-p", str(info.ssh_port),  # type: ignore[attr-defined]
        "-i", info.ssh_key,  # type: ignore[attr-defined]
        "-o", f"UserKnownHostsFile={info.known_hosts}",  # type: ignore[attr-defined]
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
        f"{info.ssh_user}@{info.ssh_host}",  # type: ignore[attr-defined]
        command,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"`{command}` failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _wait_for(probe: Callable[[], str | None], what: str, timeout: float = 120) -> str:
    """Poll until ``probe`` returns text; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _squeue(info: object, job: str, fmt: str) -> str:
    return _ssh(info, f"squeue -h -j {job} -o '{fmt}'", check=False).stdout.strip()


def test_info_names_the_new_parts(sandbox: object) -> None:
    info = sandbox
    assert info.sandbox_version >= 2  # type: ignore[attr-defined]
    assert len(info.node_names) == 2 == info.nodes - 1  # type: ignore[attr-defined]
    parts = _ssh(info, "sinfo -h -o '%R %N'").stdout.split("\n")
    by_name = dict(line.split() for line in parts if line)
    for part in ("multi_partition", "preempt_low", "preempt_high", "limited_partition"):
        assert getattr(info, part) in by_name, f"{part} missing from sinfo: {by_name}"


def test_srun_on_two_nodes_prints_two_hostnames(sandbox: object) -> None:
    info = sandbox
    part = info.multi_partition  # type: ignore[attr-defined]
    out = _ssh(info, f"srun -p {part} -N2 hostname").stdout.split()
    assert sorted(out) == sorted(info.node_names)  # type: ignore[attr-defined]


def test_a_batch_job_on_two_nodes_starts_steps_on_the_other_node(sandbox: object) -> None:
    """The batch script runs on one namespace node; its `srun` reaches the other one and
    the tasks' output comes back to it (steps connect back to srun across the bridge)."""
    info = sandbox
    part = info.multi_partition  # type: ignore[attr-defined]
    out_file = f"{info.user_home}/sandbox-nodes-%j.out"  # type: ignore[attr-defined]
    script = "hostname; srun -l hostname"
    job = _ssh(
        info, f"sbatch --parsable --wait -p {part} -N2 -n2 -o {out_file} --wrap '{script}'"
    ).stdout.strip()
    path = out_file.replace("%j", job)
    lines = _ssh(info, f"cat {path} && rm -f {path}").stdout.split("\n")
    batch_host, steps = lines[0], sorted(ln.split(": ")[1] for ln in lines[1:] if ": " in ln)
    assert batch_host in info.node_names  # type: ignore[attr-defined]
    assert steps == sorted(info.node_names)  # type: ignore[attr-defined]


def test_a_function_runs_on_a_namespace_node(sandbox: object) -> None:
    """The runner, the user's venv and the job dir work on those nodes (shared home)."""
    profile = ssh_profile(sandbox, name="nsnode")
    cl.profiles.save(profile)

    def where() -> str:
        import socket

        return socket.gethostname()

    part = sandbox.multi_partition  # type: ignore[attr-defined]
    job = cl.cluster("nsnode", partition=part, memory="200MB")(where).submit()
    assert job.result(timeout=120) in sandbox.node_names  # type: ignore[attr-defined]


def test_counted_gpus_are_allocated_per_node_and_a_missing_type_is_refused(
    sandbox: object,
) -> None:
    info = sandbox
    part, kind = info.multi_partition, info.gpu_type  # type: ignore[attr-defined]
    count = info.gpus_per_node  # type: ignore[attr-defined]
    command = "echo $(hostname) $SLURM_GPUS_ON_NODE $CUDA_VISIBLE_DEVICES"
    out = _ssh(info, f"srun -p {part} -N2 --gpus-per-node={kind}:{count} sh -c '{command}'")
    rows = sorted(line.split() for line in out.stdout.splitlines())
    devices = ",".join(str(i) for i in range(count))
    assert rows == [[n, str(count), devices] for n in sorted(info.node_names)]  # type: ignore[attr-defined]
    refused = _ssh(info, f"srun -p {part} --gpus=no{kind}:1 true", check=False)
    assert refused.returncode != 0
    assert "not available" in refused.stderr or "Invalid" in refused.stderr, refused.stderr


def test_a_high_job_requeues_a_low_job(sandbox: object) -> None:
    info = sandbox
    low, high = info.preempt_low, info.preempt_high  # type: ignore[attr-defined]
    low_job = _ssh(
        info, f"sbatch --parsable -p {low} -N2 --exclusive -o /dev/null --wrap 'sleep 600'"
    ).stdout.strip()
    high_job = ""
    try:
        _wait_for(lambda: _squeue(info, low_job, "%T") == "RUNNING" or None, "the low job runs")
        high_job = _ssh(
            info, f"sbatch --parsable -p {high} -N1 --exclusive -o /dev/null --wrap 'sleep 5'"
        ).stdout.strip()

        # Requeued: back to PENDING (waiting out the credential lifetime), one restart.
        def requeued() -> str | None:
            shown = _squeue(info, low_job, "%T %r")
            return shown if shown.startswith("PENDING") else None

        state = _wait_for(requeued, "the low job to be requeued")
        shown = _ssh(info, f"scontrol show job {low_job}").stdout
        assert "Restarts=1" in shown, (state, shown)
        assert _squeue(info, high_job, "%T") in ("RUNNING", "COMPLETING", "COMPLETED", "")
    finally:
        _ssh(info, f"scancel {low_job} {high_job}".strip(), check=False)


def test_a_partition_limit_is_refused_at_submit(sandbox: object) -> None:
    info = sandbox
    part = info.limited_partition  # type: ignore[attr-defined]
    shown = _ssh(info, f"scontrol show partition {part}").stdout
    assert f"MaxTime={info.limited_max_time}" in shown  # type: ignore[attr-defined]
    assert f"MaxNodes={info.limited_max_nodes}" in shown  # type: ignore[attr-defined]
    refused = _ssh(info, f"sbatch -p {part} -t 01:00:00 --wrap true", check=False)
    assert refused.returncode != 0
    assert "time limit" in refused.stderr.lower(), refused.stderr


def test_sacct_reports_a_finished_job(sandbox: object) -> None:
    info = sandbox
    work = "python3 -c 'x = bytearray(60 << 20); import time; time.sleep(2)'"
    job = _ssh(
        info, f'sbatch --parsable --wait --mem=300M -o /dev/null --wrap "{work}"'
    ).stdout.strip()
    fields = "JobID,State,Elapsed,TotalCPU,MaxRSS,ReqMem,User,Account"

    def batch_line() -> str | None:
        out = _ssh(info, f"sacct -n -P -j {job} --format={fields}", check=False).stdout
        return next((ln for ln in out.splitlines() if ln.startswith(f"{job}.batch|")), None)

    values = _wait_for(batch_line, "sacct's batch step").split("|")
    row = dict(zip(fields.split(","), values, strict=True))
    assert row["State"] == "COMPLETED"
    assert re.fullmatch(r"\d\d:\d\d:\d\d", row["Elapsed"]), row
    assert row["TotalCPU"], row
    assert row["MaxRSS"].endswith(("K", "M")) and float(row["MaxRSS"][:-1]) > 0
    alloc = _ssh(info, f"sacct -n -P -X -j {job} --format=ReqMem,User,Account").stdout.split("|")
    assert alloc[0].strip() == "300M"
    assert alloc[1] == info.ssh_user  # type: ignore[attr-defined]
    assert alloc[2].strip() == info.default_account  # type: ignore[attr-defined]


def test_sshare_and_associations_exist_for_the_user(sandbox: object) -> None:
    info = sandbox
    user = info.ssh_user  # type: ignore[attr-defined]
    assoc = _ssh(info, f"sacctmgr -n -P show assoc user={user} format=account").stdout.split()
    assert sorted(assoc) == sorted(info.accounts)  # type: ignore[attr-defined]
    share = _ssh(info, f"sshare -n -P -U -u {user} -o Account,User,FairShare").stdout
    rows = [ln.split("|") for ln in share.splitlines()]
    assert {r[0].strip() for r in rows} == set(info.accounts)  # type: ignore[attr-defined]
    assert all(r[2] != "" for r in rows), share


def test_the_user_may_choose_a_second_qos(sandbox: object) -> None:
    info = sandbox
    user, qos = info.ssh_user, info.limited_qos  # type: ignore[attr-defined]
    shown = _ssh(info, f"sacctmgr -n -P show qos {qos} format=name,maxwall").stdout.strip()
    assert shown == f"{qos}|{info.limited_qos_max_wall}"  # type: ignore[attr-defined]
    assoc = _ssh(info, f"sacctmgr -n -P show assoc user={user} format=qos").stdout.split()
    assert all(set(row.split(",")) == set(info.qos) for row in assoc), assoc  # type: ignore[attr-defined]
    job = _ssh(info, f"sbatch --parsable --wait --qos={qos} -o /dev/null --wrap true").stdout
    assert _ssh(info, f"sacct -n -P -X -j {job.strip()} --format=QOS,State").stdout.split() == [
        f"{qos}|COMPLETED"
    ]
    refused = _ssh(info, "sbatch --qos=no-such-qos --wrap true", check=False)
    assert refused.returncode != 0 and "invalid qos" in refused.stderr.lower(), refused.stderr
    over = _ssh(info, f"sbatch --qos={qos} -t 2:00:00 --wrap true", check=False)
    assert over.returncode != 0 and "limit" in over.stderr.lower(), over.stderr


def test_an_account_the_user_lacks_is_refused_at_submit(sandbox: object) -> None:
    refused = _ssh(sandbox, "sbatch --account=no-such-account --wrap true", check=False)
    assert refused.returncode != 0 and "invalid account" in refused.stderr.lower()


# --------------------------------------------------------------------------- Grid Engine


def _sge(info: object, cell: object, command: str, check: bool = True) -> str:
    """A Grid Engine command as the sandbox user, with the cell's settings sourced."""
    settings = cell.settings  # type: ignore[attr-defined]
    return _ssh(info, f". {settings} && cd && {command}", check=check).stdout


@pytest.mark.sge
@pytest.mark.parametrize("pe", ["pe", "mpi_pe"])
def test_a_multi_slot_job_runs_in_each_parallel_environment(
    sandbox: object, sge_cell: object, pe: str
) -> None:
    name = getattr(sge_cell, pe)
    # The job script comes on stdin (a -b y command line loses its quoting); -N: a job
    # name made from the command would be refused.
    script = "echo $NSLOTS $PE > sge-slots.$JOB_ID"
    out = _sge(
        sandbox,
        sge_cell,
        f"echo '{script}' | qsub -sync y -terse -N slots -pe {name} 3 -j y -o /dev/null "
        ">/dev/null && cat sge-slots.* && rm -f sge-slots.*",
    )
    assert out.split() == ["3", name]


@pytest.mark.sge
def test_the_limited_queue_shows_and_enforces_its_limit(sandbox: object, sge_cell: object) -> None:
    queue = sge_cell.limited_queue  # type: ignore[attr-defined]
    limit = sge_cell.limited_h_rt  # type: ignore[attr-defined]
    shown = _sge(sandbox, sge_cell, f"qconf -sq {queue}")
    assert re.search(rf"^h_rt\s+{limit}$", shown, re.M), shown
    refused = _ssh(
        sandbox,
        f". {sge_cell.settings} && qsub -w e -q {queue} -l h_rt=01:00:00 -b y true",  # type: ignore[attr-defined]
        check=False,
    )
    assert refused.returncode != 0 and "no suitable queues" in refused.stderr, refused.stderr
