"""Rich notebook reprs (status cards) with plain-text fallbacks."""

from __future__ import annotations

import clusterlab as cl


def test_rich_reprs_show_state_and_progress() -> None:
    job = cl.cluster("local")(abs).submit(-2)
    job.result(timeout=60)
    card = job._repr_html_()
    assert job.id in card and "COMPLETED" in card and "local" in card
    assert "COMPLETED" in repr(job)
    arr = cl.cluster("local")(abs).map([-1, -2])
    arr.results(timeout=60)
    assert "2/2" in arr._repr_html_() and "2 items in 2 tasks of 1" in repr(arr)
    profile_html = cl.Profile(name="hpc", scheduler="slurm", host="ab")._repr_html_()
    assert "<td style='text-align:left'>ab</td>" in profile_html
