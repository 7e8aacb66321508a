"""Editing a profile must not leave a thread behind per version (review finding: one
runtime thread leaked per profile version)."""

from __future__ import annotations

import threading

import clusterlab as cl


def _local_threads() -> int:
    return sum(t.name == "clusterlab-local" and t.is_alive() for t in threading.enumerate())


def test_each_profile_version_does_not_keep_a_thread() -> None:
    before = _local_threads()
    jobs = []
    for version in range(6):
        cl.profiles.save(cl.Profile(name="ed", scheduler="local", max_concurrent=version + 1))
        job = cl.cluster("ed")(abs).submit(-version)
        assert job.result(timeout=60) == version
        jobs.append(job)
    assert _local_threads() - before <= 1
    assert not jobs[0].cancel()  # an old version's job still answers (it has finished)
    cl.profiles.save(cl.Profile(name="ed", scheduler="local", max_concurrent=2))
    assert cl.cluster("ed")(abs).submit(-9).result(timeout=60) == 9
