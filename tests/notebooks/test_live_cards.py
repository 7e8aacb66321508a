"""A Job or ArrayJob card a cell displays updates itself until the job has settled (it
was a snapshot: "PENDING" and "0/3" forever). Real kernels, driven by nbclient, which
applies ``update_display_data`` to the cell that showed the card, as JupyterLab does."""

from __future__ import annotations

import pytest

from tests.notebooks.test_magic import run_notebook

pytestmark = pytest.mark.timeout(300)


def html(cell: object) -> str:
    outputs = getattr(cell, "outputs", [])
    return "".join(o.get("data", {}).get("text/html", "") for o in outputs)


def test_displayed_job_and_array_cards_update_until_they_settle() -> None:
    cells = run_notebook(
        "import clusterlab as cl, time, os\n"
        "go = os.path.join(os.getcwd(), 'go-%d' % os.getpid())\n"
        "def wait(x):\n"
        "    import os, time\n"
        "    while not os.path.exists(go):\n"
        "        time.sleep(0.05)\n"
        "    return x\n"
        "f = cl.cluster('local')(wait)",
        "job = f.submit(1)\njob",  # shown while it waits: PENDING or RUNNING
        "arr = f.map(range(3), progress=False)\narr",
        "open(go, 'w').close()\njob.result(timeout=60), arr.results(timeout=60)\n"
        "time.sleep(2.5)  # the cards' next redraw (at most every 0.5 s) comes in here\n"
        "os.unlink(go)",
    )
    job_card, array_card = html(cells[1]), html(cells[2])
    assert "COMPLETED" in job_card, job_card
    assert "COMPLETED" in array_card and "3/3" in array_card, array_card
