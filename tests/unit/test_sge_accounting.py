"""Grid Engine's ``qacct -j`` records as clusterlab reads them (transcribed from the
sandbox's Grid Engine 8.1.9: a finished job, and one killed at its h_rt limit)."""

from __future__ import annotations

from clusterlab.backends.sge_accounting import parse
from clusterlab.common.states import Cause

DONE = """==============================================================
qname        all.q
hostname     vm
owner        cltest
jobname      where
jobnumber    698
taskid       undefined
slots        2
failed       0
exit_status  0
ru_wallclock 4s
ru_maxrss    85.120KB
cpu          0.935s
maxvmem      0.000B
category     -l h_vmem=1536M -pe smp 2
==============================================================
qname        all.q
jobnumber    701
taskid       3
slots        1
failed       37  : qmaster enforced h_rt, h_cpu, or h_vmem limit
exit_status  137
ru_wallclock 60s
ru_maxrss    20.445KB
cpu          59.100s
maxvmem      1.2G
category     -l h_rt=60
"""


def test_a_finished_job_and_a_task_killed_at_its_time_limit() -> None:
    found = parse(DONE)
    done, killed = found["698"], found["701.3"]
    assert done.usage.elapsed == 4 and done.usage.cpu_time == 0.935
    assert done.usage.max_rss == int(85.120 * 1024 * 1024)  # ru_maxrss is in KiB
    assert (done.cores, done.memory_mb, done.time_s) == (2, 3072, None)
    assert done.final and done.cause is None and done.state == "done"
    assert killed.cause == Cause.TIME_LIMIT and killed.time_s == 60
    assert killed.usage.max_rss == int(1.2 * 1024**3)  # maxvmem, the larger
    assert killed.state.startswith("failed")
