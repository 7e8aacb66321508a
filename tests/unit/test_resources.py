from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterlab.common.errors import ResourceError
from clusterlab.config.resources import (
    RESOURCE_KEYS,
    Resources,
    format_time,
    parse_memory,
    parse_resources,
    parse_time,
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
