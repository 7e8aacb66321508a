"""Issue 25, defect 2 (the part a kernel can check; the widths are measured in Galata,
ui-tests/tests/first-use.spec.ts): the monitor's "Result" and "Log" open right under
their row, as selectable text (not a disabled textarea below the whole table), and a
traceback's last line is printed once."""

from __future__ import annotations

import ipywidgets as w
import pytest

import clusterlab as cl
from clusterlab.ui.widgets import JobMonitor

from .test_widgets import eventually

pytestmark = pytest.mark.timeout(180)


def _boom(v: int) -> int:
    raise ValueError(f"nope {v}")


def test_result_opens_under_its_row_with_the_traceback_once() -> None:
    bad = cl.cluster("local")(_boom).submit(1)
    good = cl.cluster("local")(abs).submit(-5)
    for job in (bad, good):
        job.exception(timeout=60)
    m = JobMonitor()
    try:
        eventually(lambda: bad.id in m._rows and good.id in m._rows)
        m._rows[bad.id].result_button.click()
        eventually(lambda: "ValueError: nope 1" in getattr(m, "detail_text", m.detail.value))
        text = getattr(m, "detail_text", m.detail.value)
        assert text.count("ValueError: nope 1") == 1, text
        assert "in _boom" in text
        assert not isinstance(m.detail, w.Textarea)  # text to select, not a disabled field
        children = list(m.table.children)
        assert children[children.index(m._rows[bad.id].box) + 1] is m.detail_box
        m._rows[good.id].log_button.click()  # the box moves under the other row
        eventually(lambda: children_after(m, good.id) is m.detail_box)
        assert m.detail_text == "(it printed nothing)"
        m.close_button.click()
        assert m.detail_box not in m.table.children
    finally:
        m.close()


def children_after(m: JobMonitor, job_id: str) -> object:
    children = list(m.table.children)
    i = children.index(m._rows[job_id].box)
    return children[i + 1] if i + 1 < len(children) else None
