from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import clusterlab as cl
from clusterlab.common.errors import ProfileError, ResourceError
from clusterlab.config.profile import Profile
from clusterlab.config.resources import (
    RESOURCE_KEYS,
    Resources,
    format_time,
    parse_memory,
    parse_pairs,
    parse_resources,
    parse_time,
    refuse_unsupported,
)


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("512MB", 512),
        ("16GB", 16384),
        ("16G", 16384),
        ("1.5GiB", 1536),
        ("2048", 2048),
        ("1TB", 1048576),
        ("512 mb", 512),
        (300, 300),
    ],
)
def test_memory_forms(text: str | int, mb: int) -> None:
    assert parse_memory(text) == mb


@pytest.mark.parametrize("bad", ["lots", "-5GB", "5XB", "", "0MB", 0, True])
def test_memory_rejected_with_example(bad: object) -> None:
    with pytest.raises(ResourceError, match="memory="):
        parse_memory(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),
        ("1:00:00", 3600),
        ("2-00:00:00", 172800),
        ("0:02", 2),
        ("10:30", 630),
        ("1-12", 129600),
        ("1-1:30", 91800),
        (45, 2700),
    ],
)
def test_time_forms_follow_slurm(text: str | int, seconds: int) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("bad", ["1h", "", "0", "1:2:3:4", "abc", "-1"])
def test_time_rejected_with_forms(bad: str) -> None:
    with pytest.raises(ResourceError, match="time="):
        parse_time(bad)


@given(st.integers(min_value=1, max_value=400 * 86400))
def test_format_time_round_trips(seconds: int) -> None:
    assert parse_time(format_time(seconds)) == seconds


def test_unknown_resource_lists_valid_ones() -> None:
    with pytest.raises(ResourceError) as err:
        parse_resources({"cpus": 4})
    assert "'cpus'" in str(err.value)
    for key in RESOURCE_KEYS:
        assert key in str(err.value)


def test_queue_is_partition_and_merge_precedence() -> None:
    base = parse_resources({"cores": 2, "memory": "1GB", "queue": "short"})
    assert base.partition == "short"
    merged = base.merged(parse_resources({"cores": 8}))
    assert (merged.cores, merged.memory_mb, merged.partition) == (8, 1024, "short")
    assert merged.to_dict() == {"cores": 8, "memory": "1024MB", "partition": "short"}
    assert Resources().merged(Resources()) == Resources()


@pytest.mark.parametrize(
    "bad",
    [
        {"partition": "a b"},
        {"partition": "x\n#SBATCH --uid=0"},
        {"account": "$(rm -rf ~)"},
        {"extra": ["--qos=high\nrm -rf ~"]},
        {"extra": "qos=high"},
        {"cores": 0},
        {"cores": "x"},
        {"gpus": -1},
        {"nodes": True},
    ],
)
def test_values_that_could_inject_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ResourceError):
        parse_resources(bad)


@given(st.text(min_size=1, max_size=40))
def test_directive_values_are_single_safe_tokens(text: str) -> None:
    """Whatever a user types, a partition either is rejected or is one plain token."""
    try:
        res = parse_resources({"partition": text})
    except ResourceError:
        return
    assert res.partition is not None
    assert all(ch.isalnum() or ch in "_.,+@:-" for ch in res.partition)


# -- qos, constraint, typed gpus, tasks: first-class fields ---------------------------------
def test_new_fields_parse_and_round_trip_through_to_dict() -> None:
    asked = {
        "gpus": "a100:2",
        "nodes": 2,
        "tasks": 8,
        "qos": "high",
        "constraint": "intel&(ib|opa)",
    }
    r = parse_resources(asked)
    assert (r.gpus, r.gpu_type, r.nodes, r.tasks) == (2, "a100", 2, 8)
    assert (r.qos, r.constraint) == ("high", "intel&(ib|opa)")
    assert r.to_dict() == asked  # what the ledger keeps and a reattach parses again
    assert parse_resources(r.to_dict()) == r
    assert parse_resources({"gpus": "2"}).gpus == 2
    assert parse_resources({"gpus": 2}).gpu_type is None


def test_a_gpu_request_is_one_value_when_merged() -> None:
    typed = parse_resources({"gpus": "a100:1", "cores": 2})
    assert typed.merged(parse_resources({"gpus": 4})).to_dict() == {"cores": 2, "gpus": 4}
    assert typed.merged(parse_resources({"cores": 8})).to_dict() == {"cores": 8, "gpus": "a100:1"}


@pytest.mark.parametrize(
    ("asked", "says"),
    [
        ({"gpus": "a100"}, "give a count or a type and a count, e.g. gpus=2 or gpus='a100:1'"),
        ({"gpus": "$(id)"}, "e.g. gpus=2 or gpus='a100:1'"),
        ({"gpus": "a100:0"}, "at least one GPU of a type, e.g. gpus='a100:2'"),
        ({"gpus": "a 100:2"}, "the GPU type is one word"),
        ({"gpus": "a100:x"}, "e.g. gpus='a100:2'"),
        ({"constraint": "intel ib"}, "without spaces, e.g. constraint='skylake'"),
        ({"constraint": "-x"}, "e.g. constraint='skylake'"),
        ({"constraint": "a\n#SBATCH --uid=0"}, "e.g. constraint='skylake'"),
        ({"qos": "$(id)"}, "e.g. qos='normal'"),
        ({"tasks": 0}, "tasks=0: must be at least 1"),
        ({"tasks": "many"}, "tasks='many': must be a whole number"),
        ({"tasks": 1, "nodes": 2}, "every node needs at least one task; ask for tasks=2"),
    ],
)
def test_bad_new_values_are_refused_with_a_sentence(asked: dict[str, object], says: str) -> None:
    with pytest.raises(ResourceError) as err:
        parse_resources(asked)
    assert says in str(err.value)


def test_tasks_default_to_one_per_node() -> None:
    assert parse_resources({}).task_count == 1
    assert parse_resources({"nodes": 3}).task_count == 3
    assert parse_resources({"nodes": 2, "tasks": 6}).task_count == 6


# -- what each scheduler cannot do is refused, by name -------------------------------------
@pytest.mark.parametrize(
    ("scheduler", "asked", "says"),
    [
        ("pbs", {"qos": "high"}, "the 'pbs' scheduler cannot take qos='high': PBS has no QOS"),
        ("pbs", {"constraint": "skylake"}, "cannot take constraint='skylake': PBS has no node"),
        ("pbs", {"gpus": "a100:2"}, "cannot take gpus='a100:2': PBS has no standard GPU type"),
        ("local", {"nodes": 2}, "the 'local' scheduler cannot take nodes=2: it runs each job"),
        ("local", {"nodes": 2, "tasks": 4}, "cannot take nodes=2: it runs each job"),
    ],
)
def test_what_a_scheduler_cannot_do_is_refused(
    scheduler: str, asked: dict[str, object], says: str
) -> None:
    with pytest.raises(ResourceError) as err:
        refuse_unsupported(parse_resources(asked), scheduler)
    assert says in str(err.value)
    # ... and a profile that asks for it by default cannot be saved
    with pytest.raises(ProfileError) as bad:
        Profile(name="p", scheduler=scheduler, resources=asked)
    assert bad.value.field == "resources" and says in bad.value.errors["resources"]


def test_what_a_scheduler_can_do_passes() -> None:
    everything = parse_resources(
        {"qos": "high", "constraint": "skylake", "gpus": "a100:2", "nodes": 2, "tasks": 4}
    )
    refuse_unsupported(everything, "slurm")
    refuse_unsupported(parse_resources({"nodes": 2, "tasks": 4, "gpus": 2}), "pbs")
    # local runs a decorator written for a cluster, as it does with partition and account
    refuse_unsupported(parse_resources({"qos": "high", "constraint": "x", "gpus": "a:1"}), "local")
    refuse_unsupported(parse_resources({"nodes": 1, "tasks": 1}), "local")
    for one_host in ("local", "direct", "sge"):  # tasks=N: N processes on the job's host
        refuse_unsupported(parse_resources({"tasks": 4}), one_host)


def test_what_local_cannot_do_is_refused_at_submission_before_anything_runs() -> None:
    for asked in ({"nodes": 2}, {"nodes": 2, "tasks": 3}):
        with pytest.raises(cl.ResourceError, match="the 'local' scheduler cannot take"):
            cl.cluster("local", **asked)(abs).submit(-1)
        with pytest.raises(cl.ResourceError, match="leave .* out to run"):
            cl.cluster("local")(abs).options(**asked).map([1, 2])
    assert cl.jobs() == []
    # qos and constraint are accepted there, as partition and account are (gpus are
    # handed out or refused: tests/integration/test_local_gpus.py)
    f = cl.cluster("local", qos="high", constraint="skylake")(abs)
    assert f.submit(-3).result(timeout=60) == 3


# -- KEY=VALUE text (the CLI and the ipywidgets form) ---------------------------------------
def test_pairs_keep_every_extra_option() -> None:
    assert parse_pairs(["cores=4,extra=--qos=high", "extra=--constraint=a,b"]) == {
        "cores": 4,
        "extra": ["--qos=high", "--constraint=a,b"],
    }
    assert parse_pairs("cores=4\nextra=--exclusive\nextra=--mail-type=END") == {
        "cores": 4,
        "extra": ["--exclusive", "--mail-type=END"],
    }
    # an option keeps its own commas; a resource's name after a comma starts a new pair
    assert parse_pairs("extra=--gres=gpu:1,mps:10, cores=2, partition=a,b") == {
        "extra": ["--gres=gpu:1,mps:10"],
        "cores": 2,
        "partition": "a,b",
    }
    assert parse_pairs("extra=['--a', '--b']") == {"extra": ["--a", "--b"]}
    assert parse_pairs("gpus=a100:2") == {"gpus": "a100:2"}


def test_pairs_refuse_a_single_valued_key_given_twice() -> None:
    with pytest.raises(ResourceError, match=r"cores is given twice \(4, then 8\).*e\.g\. cores=4"):
        parse_pairs("cores=4, cores=8")
