"""Issue 25, defect 6: a ``%%cluster`` job's result, as the panel's "Show result", the
monitor's "Result" and an inserted ``cl.job(ID).result()`` show it, is the names the cell
assigned (and its last value), not clusterlab's internal
``{'outputs': ..., 'skipped': ..., 'value': ..., 'missing': ...}``. Real local jobs."""

from __future__ import annotations

from typing import Any

import clusterlab as cl
from clusterlab.ui import magic
from clusterlab.ui.job_result import result_text


def _run_cell(source: str, ns: dict[str, Any]) -> cl.Job:
    magic.run("local --async", source, ns)
    job = ns["_cluster_job"]
    job.result(timeout=120)
    return job


def test_cell_result_shows_the_assigned_names_and_the_last_value() -> None:
    ns: dict[str, Any] = {"base": 20}
    job = _run_cell("answer = base * 2\nwords = ['a', 'b']\nanswer + 1", ns)
    shown = result_text(job.id)["text"]
    assert shown == "answer = 40\nwords = ['a', 'b']\n(the cell's last line gave 41)"
    assert repr(cl.job(job.id).result()) == shown  # what "Insert result" displays
    assert "'outputs'" not in shown and "'skipped'" not in shown
    assert job.result()["outputs"] == {"answer": 40, "words": ["a", "b"]}  # still a mapping


def test_cell_that_assigns_nothing_says_so() -> None:
    job = _run_cell("print('hi')", {})
    assert result_text(job.id)["text"] == "(the cell assigned no names)"
