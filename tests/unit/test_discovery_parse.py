"""Discovery's parsers on transcribed scheduler output: what a user reads in
``cl.cluster_info()`` (limits, load, GPUs, accounts, and why something is unknown)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from clusterlab.backends import discovery_script, sge_discovery, slurm_discovery
from clusterlab.common import kinds
from clusterlab.common.clusterinfo import ClusterInfo, table
from clusterlab.common.errors import ResourceError

SAMPLES = Path(__file__).parent / "discovery_samples"


def slurm_sample() -> ClusterInfo:
    return slurm_discovery.parse(
        discovery_script.parse((SAMPLES / "slurm_sections.txt").read_text())
    )


def test_script_sections_keep_each_commands_output_and_status() -> None:
    script = discovery_script.build([("a", "echo one; echo two"), ("b", "echo bad >&2; exit 3")])
    import subprocess

    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout
    sections = discovery_script.parse(out)
    assert sections["a"] == discovery_script.Section("one\ntwo", 0)
    assert sections["b"] == discovery_script.Section("bad", 3)


def test_slurm_partitions_with_limits_load_and_gpus() -> None:
    info = slurm_sample()
    assert [p.name for p in info.partitions] == ["normal", "long", "gpu"]
    assert info.default == "normal"
    normal, long, gpu = info.partitions
    assert normal.max_time == timedelta(days=2)
    assert long.max_time == timedelta(days=7)
    assert (normal.nodes, normal.idle_nodes, normal.mixed_nodes, normal.allocated_nodes) == (
        4,
        2,  # "idle*" (not responding) still reads as idle
        1,
        1,
    )
    assert normal.max_nodes == 4 and gpu.max_nodes is None
    assert normal.cores_per_node == 32 and normal.memory_per_node == 192000
    assert gpu.cores_per_node == 48  # MaxCPUsPerNode caps the nodes' 64
    assert gpu.memory_per_node == 256000  # MaxMemPerNode caps 512000
    assert gpu.gpus == {"a100": 4, "v100": 2} and gpu.gpu_nodes == 2
    assert (normal.pending, gpu.pending, long.pending) == (3, 1, 1)
    assert long.accounts == ("physics", "chem") and gpu.qos == ("normal", "high")
    assert info.accounts == ("physics", "chem") and info.qos == ("normal", "high")
    assert info.why == ()
    assert gpu.summary().startswith("gpu: max 12:00:00, 1 of 2 nodes idle, 48 cores")
    assert "a100 x4 on 2 nodes" in gpu.summary()


def test_slurm_without_accounting_gives_partitions_and_says_why_accounts_are_empty() -> None:
    text = (SAMPLES / "slurm_sections.txt").read_text()
    head, _, _ = text.partition("@@clusterlab-discovery@@ assoc\n")
    said = "You are not running a supported accounting_storage plugin"
    text = head + "".join(
        f"@@clusterlab-discovery@@ {n}\n{said}\n@@clusterlab-discovery@@ {n} status 1\n"
        for n in ("assoc", "qos")
    )
    info = slurm_discovery.parse(discovery_script.parse(text))
    assert len(info.partitions) == 3 and info.accounts == ()
    assert info.why and "accounts unknown" in info.why[0] and said in info.why[0]


def test_slurm_discovery_failing_sinfo_says_what_to_check() -> None:
    mark = "@@clusterlab-discovery@@ nodes"
    out = f"{mark}\nsh: sinfo: not found\n{mark} status 127\n"
    with pytest.raises(ResourceError, match="sinfo failed: sh: sinfo: not found.*SLURM login node"):
        slurm_discovery.parse(discovery_script.parse(out))


def test_cluster_info_round_trips_through_json_for_the_shared_cache() -> None:
    info = slurm_sample()
    again = ClusterInfo.from_dict(info.to_dict())
    assert again == info


def test_table_shows_each_partition_and_the_default() -> None:
    text = table(slurm_sample())
    assert "normal*" in text and "2-00:00:00" in text and "a100:4" in text
    assert "default partition: normal" in text and "your accounts: physics, chem" in text


def test_sge_queues_from_qconf_and_qstat() -> None:
    text = (SAMPLES / "sge_sections.txt").read_text()
    info = sge_discovery.parse(discovery_script.parse(text))
    short, big = info.partitions
    assert short.name == "short.q" and short.max_time == timedelta(hours=4)
    assert big.max_time is None
    assert (short.nodes, short.idle_nodes, short.mixed_nodes, short.allocated_nodes) == (2, 1, 0, 1)
    assert short.cores_per_node == 8 and short.memory_per_node == 16 * 1024
    assert big.memory_per_node == 60 * 1024 + 512  # the host's 60.5G (no h_vmem)
    assert short.pending == 2 and info.default is None


def test_built_in_kinds_with_a_command_line_scheduler_can_discover() -> None:
    assert kinds.get("slurm").discoverer() is slurm_discovery.discover
    assert kinds.get("sge").discoverer() is sge_discovery.discover


def test_pbs_queues_nodes_and_default_from_the_json_forms() -> None:
    from clusterlab.backends import pbs_discovery

    text = (SAMPLES / "pbs_sections.txt").read_text()
    info = pbs_discovery.parse(discovery_script.parse(text))
    assert [p.name for p in info.partitions] == ["workq", "gpuq"]  # the routing queue: not
    assert info.default == "workq"
    workq, gpuq = info.partitions
    assert workq.max_time == timedelta(hours=24) and gpuq.max_time == timedelta(hours=48)
    assert (workq.nodes, workq.idle_nodes, workq.mixed_nodes, workq.allocated_nodes) == (
        3,  # cn01-03; gn01 serves gpuq only
        1,
        1,
        0,
    )
    assert workq.cores_per_node == 32 and workq.memory_per_node == 192000
    assert workq.pending == 4  # queued and held
    assert gpuq.nodes == 4 and gpuq.gpu_nodes == 1 and gpuq.gpus == {"": 4}  # cn01-03 too
    assert gpuq.memory_per_node == 256 * 1024 and gpuq.max_nodes == 2


def test_torque_has_no_json_and_says_so() -> None:
    from clusterlab.backends import pbs_discovery

    mark = "@@clusterlab-discovery@@ queues"
    text = f"{mark}\nqstat: invalid option -- 'F'\n{mark} status 2\n"
    with pytest.raises(ResourceError, match="TORQUE has none"):
        pbs_discovery.parse(discovery_script.parse(text))


def test_kubernetes_quantities_and_quota_left() -> None:
    from clusterlab.backends import k8s_discovery as k

    assert k.quantity("3500m") == 3.5 and k.quantity("16Gi") == 16 * 1024**3
    assert k.quantity("2") == 2 and k.quantity("1k") == 1000 and k.quantity("x") is None
    node = {
        "status": {
            "allocatable": {"cpu": "7500m", "memory": "30Gi", "nvidia.com/gpu": "2"},
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    }
    quota = {"status": {"hard": {"requests.memory": "8Gi"}, "used": {"requests.memory": "6Gi"}}}
    info = k.parse("ns", [node], [quota], [])
    (p,) = info.partitions
    assert (p.cores_per_node, p.memory_per_node, p.gpus) == (7, 2 * 1024, {"": 2})
    assert "quota left: memory 2.0 GiB" in info.why[0]
