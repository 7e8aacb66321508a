"""Discovery on the real sandbox: ``cl.cluster_info`` and ``clusterlab cluster info`` show
the sandbox's partitions as SLURM has them, in one round trip, shared through this
machine's cache; a request over a partition's limit is refused before SLURM hears of it,
and a discovery that failed never blocks a submission."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

import clusterlab as cl
from clusterlab import profiles
from clusterlab.core.discovery import cache
from clusterlab.core.runtime import get_runtime
from tests.conftest import round_trips_of

pytestmark = pytest.mark.timeout(240)


def _queued(name: str) -> list[str]:
    """SLURM's ids of jobs named ``name`` in any state (other tests share the sandbox)."""
    argv = ["squeue", "--noheader", "--states=all", f"--name={name}", "--format=%i"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()


def _unique(stem: str) -> str:
    return f"{stem}{time.time_ns() % 10**10}"


def _scontrol_partition(name: str) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "partition", "-o", name], capture_output=True, text=True, check=True
    ).stdout
    return dict(w.split("=", 1) for w in out.split() if "=" in w)


def test_cluster_info_shows_the_sandbox_partitions_in_one_round_trip(
    slurm_profile: cl.Profile, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = round_trips_of(get_runtime(slurm_profile).transport, "MainThread", monkeypatch)
    info = cl.cluster_info(slurm_profile.name)
    assert len(trips) == 1  # sinfo, scontrol, squeue and sacctmgr in one command
    assert info.default == sandbox.partition
    part = info.partition(sandbox.partition)
    assert part is not None
    assert part.cores_per_node == sandbox.node_cpus
    assert part.memory_per_node == sandbox.node_memory_mb
    assert part.nodes >= 1 and 0 <= part.idle_nodes <= part.nodes
    limit = _scontrol_partition(sandbox.partition)["MaxTime"]
    assert (part.max_time is None) == (limit == "UNLIMITED")
    if info.accounts:  # a sandbox with slurmdbd
        assert not [w for w in info.why if "accounts unknown" in w]
    else:
        assert any("accounts unknown: sacctmgr says" in w for w in info.why)
    # asked again: this machine's cache answers, the cluster is not asked
    assert cl.cluster_info(slurm_profile.name) == info and len(trips) == 1


def test_cli_reads_what_a_kernel_discovered(sandbox: Any, tmp_path: Any) -> None:
    from tests.conftest import ssh_profile

    profile = ssh_profile(sandbox, name="sbinfo")
    profiles.save(profile)
    info = cl.cluster_info("sbinfo")
    out = subprocess.run(
        [sys.executable, "-m", "clusterlab.ui.cli", "cluster", "info", "sbinfo", "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    ).stdout
    seen = json.loads(out)
    assert seen["default"] == sandbox.partition
    assert seen["fetched_at"] == info.fetched_at  # the kernel's discovery, not a new one
    table = subprocess.run(
        [sys.executable, "-m", "clusterlab.ui.cli", "cluster", "info", "sbinfo"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{sandbox.partition}*" in table and "default partition:" in table


def test_an_old_discovery_answers_at_once_and_is_refreshed_in_the_background(
    slurm_profile: cl.Profile,
) -> None:
    first = cl.cluster_info(slurm_profile.name)
    path = cache.cache_path(slurm_profile)
    record = json.loads(path.read_text())
    record["written"] -= 3600  # an hour old
    path.write_text(json.dumps(record))
    again = cl.cluster_info(slurm_profile.name)
    assert again.fetched_at == first.fetched_at  # answered from the old file
    deadline = time.monotonic() + 60
    while json.loads(path.read_text())["written"] <= record["written"]:
        assert time.monotonic() < deadline, "the background refresh never wrote the file"
        time.sleep(0.1)
    assert cl.cluster_info(slurm_profile.name).fetched_at > first.fetched_at
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_request_over_the_partitions_limit_is_refused_before_slurm_hears_of_it(
    slurm_profile: cl.Profile, sandbox: Any
) -> None:
    name = _unique("limit")
    too_many = sandbox.node_cpus + 1
    job = cl.cluster(slurm_profile.name, cores=too_many, name=name)(abs).submit(1)
    with pytest.raises(cl.LimitError) as err:
        job.result(timeout=60)
    assert str(err.value) == (
        f"cores={too_many} is over partition '{sandbox.partition}''s {sandbox.node_cpus} "
        f"cores per node: ask for at most cores={sandbox.node_cpus}"
    ) or "cores per node: choose '" in str(err.value)  # a sandbox with several partitions
    assert job.state == cl.JobState.FAILED and "over partition" in job.reason
    with pytest.raises(cl.LimitError, match="is over partition"):
        cl.cluster(slurm_profile.name, cores=too_many, name=name)(abs).map([1, 2])
    assert _queued(name) == []  # SLURM never saw them


def test_a_failed_discovery_never_blocks_a_submission(slurm_profile: cl.Profile) -> None:
    cache._write(slurm_profile, None, "could not ask: the login node did not answer")
    assert cache.for_submission(slurm_profile, get_runtime(slurm_profile).backend) == (
        None,
        "could not ask: the login node did not answer",
    )
    job = cl.cluster(slurm_profile.name, time="0:05:00")(abs).submit(-3)
    assert job.result(timeout=120) == 3


def test_grid_engine_queues_and_a_refusal_over_a_queues_slots(
    sge_cell: Any, sandbox: Any, tmp_path: Any
) -> None:
    from tests.conftest import ssh_profile

    profile = ssh_profile(
        sandbox,
        "sgeinfo",
        scheduler="sge",
        sge_settings=sge_cell.settings,
        remote_dir=f"~/.clusterlab-sge/{tmp_path.name}",
    )
    profiles.save(profile)
    info = cl.cluster_info("sgeinfo")
    env = {**os.environ, "SGE_ROOT": "/var/lib/gridengine"}
    queues = subprocess.run(
        ["sh", "-c", '. "$1"; qconf -sql', "sh", sge_cell.settings],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.split()
    assert [p.name for p in info.partitions] == queues
    assert info.default is None  # Grid Engine picks a queue itself
    limited = getattr(sge_cell, "limited_queue", "")
    if limited:  # the cell's queue with an h_rt limit: a longer time names another queue
        from clusterlab.config.resources import format_time, parse_time

        limit = parse_time(sge_cell.limited_h_rt)
        short = info.partition(limited)
        assert short is not None and short.max_time is not None
        assert short.max_time.total_seconds() == limit
        assert short.cores_per_node == sge_cell.limited_slots
        longer = format_time(limit + 60)
        late = cl.cluster("sgeinfo", partition=limited, time=longer)(abs).submit(-1)
        with pytest.raises(cl.LimitError) as err:
            late.result(timeout=60)
        others = [p.name for p in info.partitions if p.name != limited and p.max_time is None]
        assert str(err.value).startswith(
            f"time {longer} is over partition '{limited}''s {format_time(limit)}: choose "
            f"'{others[0]}'"
        ), str(err.value)
    first = info.partitions[0]
    assert first.nodes >= 1 and first.cores_per_node
    too_many = first.cores_per_node + 1
    job = cl.cluster("sgeinfo", cores=too_many, partition=first.name)(abs).submit(1)
    with pytest.raises(cl.LimitError, match=f"cores={too_many} is over partition '{first.name}'"):
        job.result(timeout=60)


def test_estimate_on_an_idle_partition_starts_now_and_a_too_big_one_says_why(
    slurm_profile: cl.Profile, sandbox: Any
) -> None:
    est = cl.estimate(slurm_profile.name, cores=1, time="0:05:00")
    assert est.start is not None, est.reason
    assert est.partition == sandbox.partition and est.pending is not None
    assert (est.fair_share is None) == any("no fair share" in w for w in est.why)
    over = cl.cluster(slurm_profile.name)(abs).options(cores=sandbox.node_cpus + 1).estimate()
    assert over.start is None and "is over partition" in over.reason
    assert _queued("clusterlab-estimate") == []  # sbatch --test-only queued nothing


def test_grid_engine_cannot_estimate_and_says_so(sge_cell: Any, sandbox: Any) -> None:
    from tests.conftest import ssh_profile

    profile = ssh_profile(sandbox, "sgeest", scheduler="sge", sge_settings=sge_cell.settings)
    profiles.save(profile)
    est = cl.estimate("sgeest", cores=1)
    assert est.start is None and est.reason.startswith("Grid Engine has no way to predict")


FAKEPBS_BIN = __import__("pathlib").Path(__file__).resolve().parents[1] / "fakepbs" / "bin"


@pytest.mark.fakepbs
def test_pbs_queue_limits_from_the_fake_refuse_a_longer_walltime(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "fakepbs"
    home.mkdir()
    monkeypatch.setenv("FAKEPBS_HOME", str(home))
    monkeypatch.setenv("FAKEPBS_MAX_WALLTIME", "24:00:00")
    monkeypatch.setenv("PATH", f"{FAKEPBS_BIN}{os.pathsep}{os.environ['PATH']}")
    profile = cl.Profile(name="pbsinfo", scheduler="pbs", remote_dir=str(tmp_path / "pbsjobs"))
    profiles.save(profile)
    info = cl.cluster_info("pbsinfo")
    assert info.default == "workq" and [p.name for p in info.partitions] == ["workq"]
    workq = info.partitions[0]
    assert workq.max_time is not None and workq.max_time.total_seconds() == 24 * 3600
    assert workq.nodes == 1 and workq.cores_per_node == os.cpu_count()
    job = cl.cluster("pbsinfo", time="30:00:00")(abs).submit(-1)
    with pytest.raises(cl.LimitError) as err:
        job.result(timeout=60)
    assert str(err.value) == (
        "time 1-06:00:00 is over partition 'workq''s 1-00:00:00: ask for a shorter time"
    )
    assert not list(home.glob("jobs/*.json"))  # qsub was never run
    ok = cl.cluster("pbsinfo", time="1:00:00")(abs).submit(-2)
    assert ok.result(timeout=120) == 2
    est = cl.estimate("pbsinfo", time="1:00:00")
    assert est.start is None and "has no way to predict start times" in est.reason


def test_the_panels_comm_gets_pickers_and_a_start_estimate(sandbox: Any) -> None:
    """``cluster.info`` fills the form's pickers (each option's tooltip is its summary);
    a profile whose cluster cannot be asked gets ``info: null`` and why, not an error."""
    from clusterlab.ui.comm import CommHandler
    from tests.conftest import ssh_profile
    from tests.unit.test_comm import RecordingComm, request

    profiles.save(ssh_profile(sandbox, name="sbform"))
    profiles.save(cl.Profile(name="nohost", scheduler="slurm", host="127.0.0.1", port=1))
    comm = RecordingComm()
    h = CommHandler(comm)
    try:
        reply = request(h, comm, "cluster.info", {"name": "sbform"}, "i1")
        assert reply["ok"] and reply["data"]["info"]["default"] == sandbox.partition
        part = next(
            p for p in reply["data"]["info"]["partitions"] if p["name"] == sandbox.partition
        )
        assert part["summary"].startswith(f"{sandbox.partition}: max ")
        down = request(h, comm, "cluster.info", {"name": "nohost"}, "i2")
        assert down["ok"] and down["data"]["info"] is None and "127.0.0.1" in down["data"]["why"]
        est = request(
            h, comm, "cluster.estimate", {"name": "sbform", "resources": {"cores": 1}}, "e1"
        )
        assert est["ok"] and est["data"]["estimate"]["start"] is not None
        assert est["data"]["estimate"]["text"].startswith("would start at ")
        bad = request(
            h, comm, "cluster.estimate", {"name": "sbform", "resources": {"cores": "x"}}, "e2"
        )
        assert not bad["ok"] and "cores='x'" in bad["error"]["message"]
    finally:
        h.close()


def test_the_widget_forms_pickers_show_limits_write_resources_and_estimate(
    sandbox: Any,
) -> None:
    from clusterlab.ui.widgets import ConfigForm
    from tests.conftest import ssh_profile

    profiles.save(ssh_profile(sandbox, name="sbpick"))
    form = ConfigForm("sbpick")
    form.pickers.lookup().join(timeout=120)
    partition = form.pickers.pickers["partition"]
    labels = dict((value, label) for label, value in partition.options)
    assert labels[sandbox.partition].startswith(f"{sandbox.partition}: max ")
    assert "nodes idle" in labels[sandbox.partition]
    partition.value = sandbox.partition  # a click on the option
    assert f"partition={sandbox.partition}" in form.fields["resources"].input.value
    assert form.validate() is not None
    form.pickers.when().join(timeout=120)
    assert "would start at" in form.pickers.status.value
    partition.value = ""  # back to "as in resources": the key is removed
    assert "partition=" not in form.fields["resources"].input.value

    profiles.save(cl.Profile(name="nopick", scheduler="slurm", host="127.0.0.1", port=1))
    down = ConfigForm("nopick")
    down.pickers.lookup().join(timeout=120)
    assert "type the partition and account in resources: could not ask" in (
        down.pickers.status.value
    )
    assert [v for _, v in down.pickers.pickers["partition"].options] == [""]


@pytest.mark.fakek8s
def test_kubernetes_allocatable_and_quota_from_the_fake(tmp_path: Any) -> None:
    from tests.fakek8s import FakeKube, fake_node, fake_quota

    fake = FakeKube(tmp_path / "fakek8s")
    try:
        fake.nodes = [
            fake_node("cpu-1", cpu="8", memory="32Gi"),
            fake_node("gpu-1", cpu="16", memory="64Gi", gpus=4),
            fake_node("down-1", cpu="64", memory="256Gi", ready=False),
        ]
        fake.quotas["team-b"] = [
            fake_quota("team-b", {"limits.cpu": "12", "limits.memory": "48Gi"}, {"limits.cpu": "2"})
        ]
        profile = cl.Profile(
            name="k8sinfo",
            scheduler="kubernetes",
            image="python:3.11-slim",
            python=sys.executable,
            kubeconfig=fake.kubeconfig,
            remote_dir=str(tmp_path / "k8sjobs"),
            namespace="team-b",
        )
        profiles.save(profile)
        info = cl.cluster_info("k8sinfo")
        (ns,) = info.partitions
        assert ns.name == "team-b" and info.default == "team-b"
        assert (ns.nodes, ns.idle_nodes) == (3, 2)  # down-1 is not Ready
        assert ns.cores_per_node == 10  # the largest ready node's 16, capped by quota 12 - 2
        assert ns.memory_per_node == 48 * 1024 and ns.gpus == {"": 4}
        assert any("quota left: cpu 10" in w for w in info.why)
        job = cl.cluster("k8sinfo", cores=11)(abs).submit(-1)
        with pytest.raises(cl.LimitError, match="cores=11 is over partition 'team-b''s 10"):
            job.result(timeout=60)
        assert not [c for c in fake.calls if c[0] == "POST"]  # nothing was created

        fake.forbidden.add(("alice", "list", "nodes"))  # a namespaced user
        again = cl.cluster_info("k8sinfo", refresh=True)
        assert again.partitions[0].cores_per_node == 10  # the quota still bounds it
        assert any("nodes unknown: " in w and "forbidden" in w for w in again.why)
    finally:
        fake.stop()


def test_a_time_over_a_limited_partition_names_one_that_fits(
    slurm_profile: cl.Profile, sandbox: Any
) -> None:
    """The issue's own example, on the sandbox's partition with a MaxTime (version 2)."""
    limited = getattr(sandbox, "limited_partition", "")
    if not limited:
        pytest.skip("this sandbox has one partition without limits (needs sandbox version 2)")
    from clusterlab.config.resources import format_time, parse_time

    limit = parse_time(sandbox.limited_max_time)
    info = cl.cluster_info(slurm_profile.name)
    part = info.partition(limited)
    assert part is not None and part.max_time is not None
    assert part.max_time.total_seconds() == limit
    assert part.max_nodes == sandbox.limited_max_nodes
    longer = format_time(limit + 3600)
    name = _unique("limited")
    job = cl.cluster(slurm_profile.name, partition=limited, time=longer, name=name)(abs).submit(-1)
    with pytest.raises(cl.LimitError) as err:
        job.result(timeout=60)
    said = str(err.value)
    assert said.startswith(
        f"time {longer} is over partition '{limited}''s {format_time(limit)}: choose '"
    ) or said.endswith("ask for a shorter time"), said
    fits = [
        p.name
        for p in info.partitions
        if p.max_time is None or p.max_time.total_seconds() >= limit + 3600
    ]
    assert all(f"'{n}'" in said for n in fits[:3] if n != limited)
    assert _queued(name) == []
    est = cl.estimate(slurm_profile.name, partition=limited, time=longer)
    assert est.start is None and est.reason == said


def test_estimate_on_a_full_partition_is_later_than_now(
    slurm_profile: cl.Profile, sandbox: Any
) -> None:
    """A job that needs the whole node while another job holds part of it: SLURM's
    backfill says it would start when that one's time limit ends, not now (the holder is
    cancelled at once; other tests' jobs on the shared node can only make it later)."""
    import datetime

    info = cl.cluster_info(slurm_profile.name, refresh=True)
    part = info.partition(sandbox.partition)
    assert part is not None and part.nodes == 1 and part.cores_per_node
    holder = cl.cluster(slurm_profile.name, cores=1, time="0:10:00")(time.sleep).submit(600)
    try:
        deadline = time.monotonic() + 120
        while holder.state != cl.JobState.RUNNING:
            assert time.monotonic() < deadline, f"the holder never ran: {holder.reason}"
            time.sleep(0.2)
        idle = cl.estimate(slurm_profile.name, cores=1, time="0:05:00")
        full = cl.estimate(slurm_profile.name, cores=part.cores_per_node, time="0:05:00")
        assert full.start is not None, full.reason
        assert full.partition == sandbox.partition
        now = datetime.datetime.now(datetime.timezone.utc)
        assert full.start > now + datetime.timedelta(minutes=5)  # after the holder's limit
        assert idle.start is not None and idle.start < full.start
    finally:
        holder.cancel()


def test_your_accounts_and_fair_share_from_accounting(sandbox: Any) -> None:
    if not getattr(sandbox, "accounting", False):
        pytest.skip("this sandbox keeps no accounting (needs sandbox version 2: slurmdbd)")
    from tests.conftest import ssh_profile

    profiles.save(ssh_profile(sandbox, name="sbacct"))
    info = cl.cluster_info("sbacct", refresh=True)
    assert set(sandbox.accounts) <= set(info.accounts)
    assert not [w for w in info.why if "accounts unknown" in w]
    name = _unique("acct")
    job = cl.cluster("sbacct", account="nosuchaccount", name=name)(abs).submit(-1)
    with pytest.raises(cl.LimitError) as err:
        job.result(timeout=60)
    assert str(err.value).startswith(
        "account 'nosuchaccount' is not one of yours on this cluster: choose one of "
    )
    assert all(f"'{a}'" in str(err.value) for a in sandbox.accounts)
    assert _queued(name) == []
    other = sandbox.accounts[-1]
    assert cl.cluster("sbacct", account=other)(abs).submit(-2).result(timeout=120) == 2
    est = cl.estimate("sbacct", cores=1)
    assert est.fair_share is not None and 0 <= est.fair_share <= 1, est.why


def test_a_qos_submit_limit_fails_the_jobs_with_what_to_do(sandbox: Any) -> None:
    """A site's MaxSubmitJobsPerUser (the sandbox's second QOS allows 4 queued jobs): six
    calls of one loop go as one array, which SLURM refuses whole. Each job ends FAILED
    with a sentence naming the limit and what to do, not sbatch's bare "Job violates
    accounting/QOS policy" (which named neither)."""
    from tests.cluster.accounting import EXTRA_QOS_MAX_SUBMIT
    from tests.conftest import ssh_profile

    profiles.save(ssh_profile(sandbox, name="sbqos"))
    f = cl.cluster("sbqos", qos=sandbox.limited_qos, time="00:05:00")(abs)
    jobs = [f.submit(-i) for i in range(EXTRA_QOS_MAX_SUBMIT + 2)]
    for job in jobs:
        with pytest.raises(cl.SubmitError) as err:
            job.result(timeout=120)
        assert job.state == cl.JobState.FAILED
        assert "MaxSubmitJobs" in str(err.value) and "sacctmgr show qos" in str(err.value)
