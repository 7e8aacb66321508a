"""``job.efficiency()`` as users read it: used/asked ratios, the advice (the same sentence
the panel row and the CLI show), suggestions for ``.options()``, arrays (max and median),
and SLURM accounting rows for jobs whose runner never wrote its end."""

from __future__ import annotations

import pytest

from clusterlab.backends import slurm_accounting
from clusterlab.common.efficiency import judge, request_hint, suggested
from clusterlab.common.states import Cause
from clusterlab.common.usage import GB, MB, ArrayUsage, Usage
from clusterlab.config.resources import parse_resources


def test_a_job_that_asked_far_too_much_gets_numbers_advice_and_a_suggestion() -> None:
    used = Usage(elapsed=600, cpu_time=600, max_rss=3 * GB + 100 * MB)
    eff = judge(used, memory_mb=64 * 1024, time_s=4 * 3600, cores=8)
    assert eff.cpu == pytest.approx(1 / 8)
    assert eff.memory == pytest.approx((3 * GB + 100 * MB) / (64 * GB))
    assert eff.time == pytest.approx(600 / (4 * 3600))
    assert eff.gpu is None and eff.source == "runner"
    assert eff.advice == (
        "used 3.1 GB of 64 GB requested memory: memory='5GB' would do and may start sooner; "
        "ran 10m00s of its 4h00m time limit: a shorter limit may start sooner; "
        "kept about 1.0 of 8 requested cores busy"
    )
    assert eff.advice == request_hint(used, 64 * 1024, 4 * 3600, 8)  # the panel's hint
    request = parse_resources({"cores": 8, "memory": "64GB", "time": "4:00:00"})
    assert suggested(request, eff) == {"cores": 1, "memory": "5GB", "time": "0:20:00"}


def test_a_request_that_fitted_has_no_advice_and_keeps_its_values() -> None:
    eff = judge(Usage(3000, 11000, 6 * GB), memory_mb=8 * 1024, time_s=3600, cores=4)
    assert eff.advice == "" and eff.suggested == {}
    request = parse_resources({"cores": 4, "memory": "8GB", "time": "1:00:00"})
    assert suggested(request, eff) == {"cores": 4, "memory": "8192MB", "time": "01:00:00"}


def test_nothing_measured_suggests_nothing() -> None:
    eff = judge(None, 1024, 60, 1)
    assert eff.source == "" and eff.cpu is None and eff.memory is None
    assert suggested(parse_resources({"cores": 2}), eff) == {}


def test_an_array_is_judged_by_its_largest_item_with_the_median_beside() -> None:
    items = [Usage(20, 20, 200 * MB), Usage(20, 20, 300 * MB), Usage(20, 20, 2 * GB)]
    eff = judge(items, memory_mb=16 * 1024, time_s=3600, cores=4)
    assert eff.items == 3 and eff.time is None  # a task's limit holds for several items
    assert eff.memory == pytest.approx(2 / 16)
    assert eff.median["memory"] == pytest.approx(300 / (16 * 1024))
    assert eff.median["cpu"] == pytest.approx(1 / 4)
    assert "used 2 GB of 16 GB requested memory: memory='3GB' would do" in eff.advice
    summary = ArrayUsage.of(items)
    assert judge(summary, 16 * 1024, 3600, 4).memory == eff.memory  # from the ledger alike


SACCT = """\
41|OUT_OF_MEMORY|00:02:10|01:58.500||4000M|billing=2,cpu=2,mem=4000M,node=1|01:00:00
41.batch|OUT_OF_MEMORY|00:02:10|01:58.500|4012345K||cpu=2,mem=4000M,node=1|
41.extern|COMPLETED|00:02:10|00:00:00|1024K||billing=2,cpu=2,mem=4000M,node=1|
42_3|COMPLETED|1-00:00:05|2-00:00:10||16G|billing=8,cpu=8,mem=16G,node=1|2-00:00:00
42_3.batch|COMPLETED|1-00:00:05|2-00:00:10|1.5G||cpu=8,mem=16G,node=1|
"""


def test_sacct_rows_give_usage_what_was_given_and_how_it_ended() -> None:
    found = slurm_accounting.parse(SACCT)
    oom = found["41"]
    assert oom.state == "OUT_OF_MEMORY" and oom.cause == Cause.OUT_OF_MEMORY and oom.final
    assert oom.memory_mb == 4000 and oom.cores == 2
    assert oom.usage == Usage(130.0, 118.5, 4012345 * 1024) and oom.time_s == 3600
    task = found["42_3"]
    assert task.usage.elapsed == 86405 and task.usage.cpu_time == 172810
    assert task.usage.max_rss == int(1.5 * GB) and task.memory_mb == 16 * 1024
    assert (
        oom.peak_known
        and not slurm_accounting.parse("7|COMPLETED|00:00:00|00:00.05||1G|cpu=1|1")["7"].peak_known
    )  # a job shorter than a sample: no MaxRSS, so no memory judged
    assert found["42_3"].cause is None
    assert not slurm_accounting.parse("8|PENDING|00:00:00|00:00:00||1G|cpu=1|1")["8"].final
    eff = judge(oom.usage, oom.memory_mb, oom.time_s, oom.cores, "accounting", "out_of_memory")
    assert eff.source == "accounting" and eff.memory == pytest.approx(4012345 / 4096000)
    assert eff.advice == (
        "ran out of memory of 3.9 GB: ask for more, e.g. memory='8GB'; "
        "kept about 0.9 of 2 requested cores busy"
    )
    assert eff.suggested == {"memory": "8GB", "cores": 1}  # its time was cut short: none
