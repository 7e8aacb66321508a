"""In a real kernel (nbclient), an environment build shows a progress bar under the cell
that submitted, redrawn to its last step (issue 13); the stderr lines stay."""

from __future__ import annotations

import json

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.timeout(300)

SETUP = """\
import os, sys, tempfile, time
import clusterlab as cl
from clusterlab.core.environment import sync as envsync

def small_lock():  # cloudpickle alone: a short real build
    lock = envsync.Lock(python='%d.%d' % sys.version_info[:2])
    lock.pins['cloudpickle'] = ('cloudpickle', __import__('cloudpickle').__version__)
    return lock

envsync.make_lock = small_lock
os.environ['PIP_NO_INDEX'] = '1'
cl.profiles.save(cl.Profile(name='nbsync', scheduler='local', environment='sync',
                            remote_dir=tempfile.mkdtemp(prefix='cl-envbar-')))
"""


def test_a_build_shows_a_bar_under_the_cell_in_a_kernel() -> None:
    nb = new_notebook(
        cells=[
            new_code_cell(SETUP),
            new_code_cell("print(cl.cluster('nbsync')(abs)(-2))\ntime.sleep(1.5)"),
        ]
    )
    NotebookClient(nb, timeout=240, kernel_name="python3", store_widget_state=True).execute()
    outputs = nb.cells[1].outputs
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1, outputs  # one bar, under the cell that built
    streams = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "building the environment" in streams and "2\n" in streams
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = json.dumps(state)
    assert "<b>ready</b> (5/5)" in models  # the label's last redraw
    bars = [m["state"] for m in state.values() if m["model_name"] == "IntProgressModel"]
    assert bars == [{**bars[0], "value": 5, "max": 5, "bar_style": "success"}]
