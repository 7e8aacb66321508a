"""A newcomer's first cells (issue 25): errors a user can fix read as one sentence, a
submission that cannot reach its host still gives a Job (FAILED, with that sentence, a row
in the ledger the panel shows), and clusterlab's own frames stay out of notebook tracebacks.

The unreachable host is a name that does not resolve (``.invalid`` is reserved for that),
so nothing leaves this machine."""

from __future__ import annotations

import re

import pytest

import clusterlab as cl
from tests.notebooks.test_magic import errors, plain, run_notebook, text

pytestmark = pytest.mark.timeout(300)

# Where clusterlab's own code lives (a frame of it in a user's traceback is noise).
OUR_FRAMES = re.compile(r"clusterlab[/\\](?!tests)|with_traceback\(None\)|noqa: B904")


def _frames(tb: str) -> list[str]:
    """The frame headers of an IPython traceback ("File .../x.py:12, in f" / "Cell In[3]")."""
    return [line for line in tb.splitlines() if re.match(r"^(File |Cell In\[)", line)]


def _unreachable_profile() -> None:
    cl.profiles.save(
        cl.Profile(name="nosuch", scheduler="slurm", host="nosuchhost.invalid", user="jdoe")
    )


def test_unreachable_host_is_one_sentence_and_submit_gives_a_failed_job() -> None:
    _unreachable_profile()
    cells = run_notebook(
        "%load_ext clusterlab\nimport clusterlab as cl",
        "%%cluster nosuch\nx = 1",
        "cl.cluster('nosuch')(abs)(1)",
        "%%cluster nosuch --async\nx = 1",
        "job = cl.cluster('nosuch')(abs).submit(1)\n"
        "try:\n    job.result(timeout=60)\nexcept cl.ClusterlabError:\n    pass\n"
        "print(job.state.value, '|', job.reason)\n"
        "print([r.state for r in cl.jobs() if r.id == job.id])",
    )
    for cell in cells[1:4]:  # at once, --async too: nothing was submitted
        (err,) = errors(cell)
        assert err.ename == "TransportError"
        assert "cannot reach jdoe@nosuchhost.invalid:22" in err.evalue
        tb = plain(text(cell))
        assert not OUR_FRAMES.search(tb), tb
        assert len(_frames(tb)) <= 1, tb  # at most the user's own line
        assert "Check the host name and port" in tb
    assert errors(cells[4]) == [], text(cells[4])
    state, reason = text(cells[4]).splitlines()[0].split(" | ")
    assert state == "FAILED"
    assert reason.startswith("not submitted: cannot reach jdoe@nosuchhost.invalid:22")
    assert text(cells[4]).splitlines()[1] == "['FAILED']"  # the row the panel shows


def test_failed_jobs_notebook_traceback_has_no_clusterlab_frame() -> None:
    cells = run_notebook(
        "%load_ext clusterlab\nimport clusterlab as cl\n"
        "def boom(v):\n    raise ValueError(f'bad {v}')",
        "cl.cluster('local')(boom)(1)",
        "cl.cluster('local')(boom).submit(2).result(timeout=120)",
        "%%cluster local\ny = 1 / 0",
    )
    enames = ("ValueError", "ValueError", "ZeroDivisionError")
    for cell, ename in zip(cells[1:], enames, strict=True):
        (err,) = errors(cell)
        assert err.ename == ename
        tb = plain(text(cell))
        assert "Remote traceback" in tb or "Cell In[" in tb
        assert not OUR_FRAMES.search(tb), tb


def _displays(cell: object) -> list[str]:
    """What a cell displayed: 'widget' (a progress bar) or 'card' (a job's card)."""
    out = []
    for o in cell.outputs:  # type: ignore[attr-defined]
        data = o.get("data", {})
        if "application/vnd.jupyter.widget-view+json" in data:
            out.append("widget")
        elif "clusterlab-card" in data.get("text/html", ""):
            out.append("card")
    return out


def test_an_array_shown_by_the_cell_that_mapped_shows_its_progress_once() -> None:
    cells = run_notebook(
        "import clusterlab as cl\narr = cl.cluster('local')(abs).map([-1, -2, -3])\narr",
        "arr.wait(120)\narr",
    )
    assert errors(cells[0]) == [] and errors(cells[1]) == []
    assert _displays(cells[0]) == ["widget"]  # the bar map() shows; `arr` adds nothing
    assert _displays(cells[1]) == ["card"]  # shown again later: its card
