"""What jobs used, as users read it: the sentences, the array summary, and the hints that
say when a request was far from what was used."""

from __future__ import annotations

import re
import sqlite3

import pytest

from clusterlab.common.efficiency import request_hint
from clusterlab.common.usage import GB, MB, ArrayUsage, Usage, usage_from_json
from clusterlab.core.ledger import store as ledger


def test_usage_reads_as_a_sentence() -> None:
    assert str(Usage(3.21, 0.5, 212 * MB)) == "elapsed 3.2s, CPU 0.5s, peak memory 212 MB"
    assert str(Usage(3785, 252, 3 * GB // 2)) == "elapsed 1h03m, CPU 4m12s, peak memory 1.5 GB"


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"elapsed": 1},
        {"elapsed": "x", "cpu_time": 1, "max_rss": 1},
        {"elapsed": -1, "cpu_time": 1, "max_rss": 1},
        {"elapsed": float("nan"), "cpu_time": 1, "max_rss": 1},
        {"elapsed": 1, "cpu_time": 1, "max_rss": [1]},
    ],
)
def test_a_usage_a_job_could_have_garbled_is_no_usage(data: object) -> None:
    """Status files are written where the job runs: a broken one is ignored, not fatal."""
    assert Usage.from_dict(data) is None
    assert usage_from_json(data) is None


def test_an_array_summary_is_the_most_and_the_mean_of_its_items() -> None:
    summary = ArrayUsage.of([Usage(1, 1, 100 * MB), None, Usage(3, 2, 300 * MB)])
    assert summary == ArrayUsage(2, Usage(3, 2, 300 * MB), Usage(2, 1.5, 200 * MB))
    assert ArrayUsage.of([None, None]) is None
    assert usage_from_json(summary.to_dict()) == summary  # type: ignore[union-attr]
    assert str(summary).startswith("2 items; most: elapsed 3.0s")


@pytest.mark.parametrize(
    ("used", "memory_mb", "time_s", "cores", "hint"),
    [
        (
            Usage(60, 60, 400 * MB),
            16 * 1024,
            None,
            None,
            "used 400 MB of 16 GB requested memory: memory='1GB' would do and may start sooner",
        ),
        (
            Usage(60, 60, 15 * GB),
            16 * 1024,
            None,
            None,
            "used 15 GB of 16 GB requested memory: close to the limit, ask for more (memory=...)",
        ),
        (Usage(60, 60, 3 * GB), 4 * 1024, None, None, ""),  # it fitted
        (Usage(60, 60, 100 * MB), 1024, None, None, ""),  # < 1 GB to gain: not worth a word
        (
            Usage(3500, 3500, MB),
            None,
            3600,
            None,
            "ran 58m20s of its 1h00m time limit: close to the limit, ask for more (time=...)",
        ),
        (
            Usage(60, 60, MB),
            None,
            4 * 3600,
            None,
            "ran 1m00s of its 4h00m time limit: a shorter limit may start sooner",
        ),
        (Usage(100, 100, MB), None, None, 8, "kept about 1.0 of 8 requested cores busy"),
        (Usage(2, 0.1, MB), None, None, 8, ""),  # too short to judge
        (None, 1024, 60, 4, ""),  # not known yet
    ],
)
def test_a_hint_when_a_request_was_far_off(
    used: Usage | None, memory_mb: int | None, time_s: int | None, cores: int | None, hint: str
) -> None:
    assert request_hint(used, memory_mb, time_s, cores) == hint


def test_an_arrays_time_is_not_compared_with_its_limit() -> None:
    """The limit holds for a task, which runs a chunk of items one after the other."""
    summary = ArrayUsage.of([Usage(3500, 3500, MB)])
    assert request_hint(summary, None, 3600, None) == ""


def test_a_ledger_of_an_earlier_release_gains_the_usage_columns() -> None:
    """Ledgers written before usage existed are upgraded when opened, rows kept."""
    ledger.path().parent.mkdir(parents=True, exist_ok=True)
    jobs_usage = re.compile(r",\n\s*usage TEXT\s*--[^\n]*")  # the last column of jobs
    old_schema = jobs_usage.sub("", ledger.SCHEMA).replace("\n    usage TEXT,", "")
    assert "usage" not in old_schema
    conn = sqlite3.connect(ledger.path())
    conn.executescript(old_schema)
    conn.execute(
        "INSERT INTO jobs (id, kind, profile, profile_json, name, native_id, job_dir, "
        "resources, after, submitted, state) VALUES ('old', 'job', 'local', '{}', 'f', '1', "
        "'/d', '{}', '[]', 1.0, 'COMPLETED')"
    )
    conn.commit()
    conn.close()
    rec = ledger.get("old")
    assert rec is not None and rec.state == "COMPLETED" and rec.usage is None
    ledger.update_usage([(ledger.usage_json(Usage(1, 2, 3)), "old")])  # type: ignore[list-item]
    assert ledger.get("old").usage == Usage(1, 2, 3)  # type: ignore[union-attr]


def test_gpu_usage_round_trips_and_garbage_is_left_out() -> None:
    """The runner's GPU fields reach the kernel; a job's own garbage in its status file
    does not (the rest of its usage stays)."""
    record = {"elapsed": 10, "cpu_time": 5, "max_rss": 1024, "gpus": 2}
    used = Usage.from_dict({**record, "gpu_memory": 3 * 1024**3, "gpu_utilization": 0.25})
    assert used is not None and Usage.from_dict(used.to_dict()) == used
    assert str(used).endswith("; GPU (2) peak 3 GB, 25% busy")
    for bad in ({"gpu_memory": "x"}, {"gpu_memory": -1}, {"gpu_memory": 1, "gpu_utilization": 7}):
        kept = Usage.from_dict({**record, **bad})
        assert kept is not None and kept.gpus == 0 and "GPU" not in str(kept)


def test_an_arrays_gpu_summary() -> None:
    a = Usage(1, 1, 1, gpus=1, gpu_memory=4 * 1024**3, gpu_utilization=0.9)
    b = Usage(1, 1, 1, gpus=1, gpu_memory=2 * 1024**3, gpu_utilization=0.5)
    summary = ArrayUsage.of([a, b, Usage(1, 1, 1)])
    assert summary is not None
    assert (summary.max.gpu_memory, summary.max.gpu_utilization) == (4 * 1024**3, 0.9)
    assert (summary.mean.gpu_memory, summary.mean.gpu_utilization) == (3 * 1024**3, 0.7)
    assert ArrayUsage.from_dict(summary.to_dict()) == summary
