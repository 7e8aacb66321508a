"""``result_limit`` (issue 30 item 4): checked with a sentence wherever it is given, and
the runner's status line carries the result's size the collector compares with it."""

from __future__ import annotations

import json

import pytest

import clusterlab as cl
from clusterlab.common.jobdir import parse_status
from clusterlab.config.resultlimit import limit_bytes, size_text


def test_sizes_read_as_people_write_them() -> None:
    assert limit_bytes("1GB") == 1024**3
    assert limit_bytes("500MB") == 500 * 1024**2
    assert limit_bytes("0") == 0  # no limit: every result is downloaded
    assert limit_bytes(4096) == 4096  # a plain number is bytes
    assert size_text(5 * 1024**2) == "5.0 MB" and size_text(2 * 1024**3) == "2.0 GB"


@pytest.mark.parametrize("bad", ["lots", "-1MB", "1 XB", -5, True, [1]])
def test_a_profile_refuses_a_limit_that_is_no_size(bad: object) -> None:
    with pytest.raises(cl.ProfileError, match="must be a size such as '1GB'"):
        cl.Profile(name="p", scheduler="local", result_limit=bad)  # type: ignore[arg-type]


def test_a_call_refuses_a_limit_that_is_no_size() -> None:
    f = cl.cluster("local")(lambda: 1)
    with pytest.raises(cl.ProfileError, match="must be a size such as '1GB'"):
        f.options(result_limit="big")


def test_the_profile_default_is_one_gigabyte() -> None:
    assert cl.Profile(name="p", scheduler="local").result_limit == "1GB"


def test_the_status_line_says_how_large_the_result_is() -> None:
    lines = [
        {"event": "started", "time": 1.0, "host": "n", "pid": 1},
        {"event": "finished", "time": 2.0, "outcome": "ok", "sha256": "ab", "size": 123},
        {"event": "item-finished", "index": 3, "time": 2.0, "outcome": "ok", "size": 7},
    ]
    info = parse_status("\n".join(json.dumps(x) for x in lines).encode())
    assert (info.size, info.items[3].size) == (123, 7)
    older = parse_status(json.dumps({"event": "finished", "outcome": "ok"}).encode())
    assert older.size == -1  # a runner of an earlier release: downloaded as before
