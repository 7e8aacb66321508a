"""A request over a partition's limit is refused with a sentence naming the partition, its
limit and what to choose instead; what discovery does not know is never refused."""

from __future__ import annotations

from clusterlab.common.clusterinfo import ClusterInfo
from clusterlab.config.resources import parse_resources
from clusterlab.core.discovery.limits import check
from tests.unit.test_discovery_parse import slurm_sample


def refusal(info: ClusterInfo | None, **resources: object) -> str:
    return check(info, parse_resources(resources))


def test_time_over_the_partitions_limit_names_a_partition_that_fits() -> None:
    said = refusal(slurm_sample(), time="72:00:00", partition="normal")
    assert said == (
        "time 3-00:00:00 is over partition 'normal''s 2-00:00:00: choose 'long' or a shorter time"
    )


def test_the_default_partition_is_checked_when_none_is_named() -> None:
    assert "partition 'normal''s 2-00:00:00" in refusal(slurm_sample(), time="3-00:00:00")


def test_time_over_every_partition_says_to_ask_for_less() -> None:
    said = refusal(slurm_sample(), time="30-00:00:00", partition="long")
    assert said == "time 30-00:00:00 is over partition 'long''s 7-00:00:00: ask for a shorter time"


def test_cores_memory_nodes_and_gpus_over_the_nodes_limits() -> None:
    info = slurm_sample()
    assert refusal(info, cores=40) == (
        "cores=40 is over partition 'normal''s 32 cores per node: choose 'gpu' or at most cores=32"
    )
    assert refusal(info, memory="300GB") == (
        "memory 300 GB is over partition 'normal''s 188 GB per node: "
        "ask for at most memory='192000MB'"
    )
    assert "nodes=3 is over partition 'long''s 2 node(s)" in refusal(
        info, nodes=3, partition="long"
    )
    assert refusal(info, gpus=1) == (
        "gpus=1 is over partition 'normal''s 0 GPUs per node: choose 'gpu' or no GPUs"
    )
    assert "gpus=2 is over partition 'gpu''s 0 h100 GPUs per node (it has a100 x4, v100 x2)" in (
        refusal(info, gpus="h100:2", partition="gpu")
    )


def test_unknown_partition_account_and_qos_name_the_valid_ones() -> None:
    info = slurm_sample()
    assert refusal(info, partition="nope") == (
        "partition 'nope' does not exist on this cluster: choose one of 'normal', 'long', 'gpu'"
    )
    assert refusal(info, account="bio") == (
        "account 'bio' is not one of yours on this cluster: choose one of 'physics', 'chem'"
    )
    assert "QOS 'urgent' does not exist for you here" in refusal(info, qos="urgent")


def test_requests_that_fit_and_unknowns_are_never_refused() -> None:
    info = slurm_sample()
    assert refusal(info, time="1:00:00", cores=32, memory="100GB") == ""
    assert refusal(info, gpus="a100:4", partition="gpu", time="12:00:00") == ""
    assert refusal(None, time="99-00:00:00") == ""  # discovery failed: the scheduler decides
    # extra options may name a partition or time of their own: not second-guessed
    assert refusal(info, time="3-00:00:00", extra=["--partition=long"]) == ""
    no_accounting = ClusterInfo.from_dict({**info.to_dict(), "accounts": [], "qos": []})
    assert refusal(no_accounting, account="anything", qos="whatever") == ""
