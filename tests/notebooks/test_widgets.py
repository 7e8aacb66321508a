"""The ipywidgets monitor and profile form, driven through their widgets' traits the way
a click or a keystroke in the browser would change them."""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.ledger import store as ledger
from clusterlab.ui.widgets import ConfigForm, JobMonitor
from clusterlab.ui.widgets.monitor import REDRAW_INTERVAL

pytestmark = pytest.mark.timeout(180)


def eventually(pred: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.1)


@pytest.fixture
def monitor() -> JobMonitor:
    m = JobMonitor()
    yield m
    m.close()


def row_text(m: JobMonitor, job_id: str) -> str:
    row = m._rows.get(job_id)
    return row.info.value + row.what.value if row is not None else ""


def test_monitor_result_of_a_large_value_not_in_memory_says_so(monitor: JobMonitor) -> None:
    """A value let go from memory (``forget_result``, as Executor.map does; a job the lab
    panel watches for a gone kernel is the same) and over the panel's threshold is not
    read again just to show it: the monitor says its size and how to read it (it showed
    an empty result once job.result stopped loading such values)."""
    job = cl.cluster("local")(bytes).submit(3_000_000)
    assert len(job.result(timeout=60)) == 3_000_000
    job.forget_result()
    eventually(lambda: "COMPLETED" in row_text(monitor, job.id))
    monitor._rows[job.id].result_button.click()
    eventually(lambda: monitor.detail_text != "")
    assert monitor.detail_text.startswith("(a value of 3,000,0")
    assert f"cl.job({job.id!r}).result() reads it" in monitor.detail_text


def test_monitor_shows_jobs_and_their_states(monitor: JobMonitor) -> None:
    @cl.cluster("local")
    def talk() -> int:
        print("hello from talk")
        return 7

    job = talk.submit()
    arr = cl.cluster("local")(abs).map([-1, -2, -3])
    eventually(lambda: "COMPLETED" in row_text(monitor, job.id))
    eventually(lambda: "3/3" in row_text(monitor, arr.id))
    assert "talk" in row_text(monitor, job.id)
    assert monitor._rows[job.id].cancel_button.disabled  # nothing left to cancel

    monitor._rows[job.id].log_button.click()
    eventually(lambda: "hello from talk" in monitor.detail_text)
    monitor._rows[job.id].result_button.click()
    eventually(lambda: monitor.detail_text == "7")


def test_monitor_shows_usage_and_the_log_of_the_item_chosen(monitor: JobMonitor) -> None:
    def speak(x: int) -> int:
        print(f"item {x} speaking")
        if x == 2:
            raise ValueError("two")
        return x

    arr = cl.cluster("local")(speak).map(range(4), chunksize=2)
    job = cl.cluster("local")(abs).submit(-1)
    arr.wait(timeout=60)
    eventually(lambda: "peak memory" in row_text(monitor, job.id))
    eventually(lambda: "peak memory" in row_text(monitor, arr.id))
    monitor._rows[arr.id].log_button.click()  # an array: the first failed item's log
    eventually(lambda: monitor.detail_text == "item 2 speaking\n")
    assert monitor.item_picker.layout.display != "none" and monitor.item_picker.value == 2
    assert f"{arr.id}:2" in monitor.detail_title.value
    monitor.item_picker.value = 1
    eventually(lambda: monitor.detail_text == "item 1 speaking\n")
    monitor._rows[job.id].log_button.click()  # a single job: no item to choose
    eventually(lambda: monitor.item_picker.layout.display == "none")


def test_monitor_cancel_button_cancels_the_job(monitor: JobMonitor) -> None:
    job = cl.cluster("local")(time.sleep).submit(120)
    eventually(lambda: "RUNNING" in row_text(monitor, job.id))
    monitor._rows[job.id].cancel_button.click()
    eventually(lambda: job.state == cl.JobState.CANCELLED)
    eventually(lambda: ledger.get(job.id).state == "CANCELLED")  # type: ignore[union-attr]
    eventually(lambda: "CANCELLED" in row_text(monitor, job.id))


def test_monitor_filters_and_shows_failures(monitor: JobMonitor) -> None:
    def boom() -> None:
        raise ValueError("nope")

    bad = cl.cluster("local")(boom).submit()
    good = cl.cluster("local")(abs).submit(-1)
    eventually(
        lambda: "FAILED" in row_text(monitor, bad.id) and "COMPLETED" in row_text(monitor, good.id)
    )
    monitor.state_filter.value = "FAILED"
    assert [b for b in monitor.table.children] == [monitor._rows[bad.id].box]
    monitor._rows[bad.id].result_button.click()
    eventually(lambda: "ValueError: nope" in monitor.detail_text)
    assert "in boom" in monitor.detail_text  # the remote traceback


def test_monitor_redraws_are_throttled(monitor: JobMonitor) -> None:
    start, redraws0 = time.time(), monitor.redraws
    arr = cl.cluster("local")(abs).map(range(-60, 0))
    arr.results(timeout=120)
    time.sleep(1)
    elapsed = time.time() - start
    # ~180 state changes, but at most one redraw per interval (+ the ledger refreshes)
    assert monitor.redraws - redraws0 <= elapsed / REDRAW_INTERVAL + 2


def test_form_has_a_tooltip_on_every_field() -> None:
    form = ConfigForm()
    for name, field in form.fields.items():
        titles = re.findall(r"title='([^']*)'", field.label.value)
        assert titles and len(titles[0]) > 30, name
        assert field.input.description == ""  # ipywidgets would drop the tooltip otherwise
    assert "known_hosts" in form.fields["known_hosts"].label.value
    assert "Example: login.example.edu" in form.fields["host"].label.value


def test_form_help_marks_are_css_not_a_font_glyph() -> None:
    # U+24D8 (circled i) renders as an empty box with common fonts; the mark is an ASCII
    # "?" drawn as a circle by CSS, so it shows with any font.
    form = ConfigForm()
    for name, field in form.fields.items():
        html = field.label.value
        assert "&#9432;" not in html and "\u24d8" not in html, name
        mark = re.search(r"<span class='clusterlab-help'[^>]*style='([^']*)'>([^<]*)</span>", html)
        assert mark is not None, name
        assert mark.group(2) == "?"
        assert "border-radius:50%" in mark.group(1)


def test_form_validates_inline_and_saves_nothing_on_error() -> None:
    form = ConfigForm()
    form.fields["name"].input.value = "hpc"
    form.fields["scheduler"].input.value = "slurm"
    form.fields["host"].input.value = "login.example.edu"
    form.fields["port"].input.value = 70000
    assert "65535" in form.fields["port"].error.value
    assert form.save() is None
    assert "not saved" in form.message.value
    assert cl.profiles.list() == ["local"]
    form.fields["port"].input.value = 2222
    assert form.fields["port"].error.value == ""
    form.fields["resources"].input.value = "cores=4, memory=8GB"
    saved = form.save()
    assert saved is not None and cl.profiles.load("hpc").port == 2222
    assert cl.profiles.load("hpc").resources == {"cores": 4, "memory": "8GB"}
    assert form.chooser.value == "hpc"


def test_form_saves_several_extra_options_and_shows_them_again() -> None:
    form = ConfigForm()
    form.fields["name"].input.value = "hpc"
    form.fields["scheduler"].input.value = "slurm"
    form.fields["host"].input.value = "login.example.edu"
    typed = "cores=4\nqos=high\nextra=--exclusive\nextra=--mail-type=END,FAIL"
    form.fields["resources"].input.value = typed
    assert form.save() is not None, form.fields["resources"].error.value
    assert cl.profiles.load("hpc").resources == {
        "cores": 4,
        "qos": "high",
        "extra": ["--exclusive", "--mail-type=END,FAIL"],
    }
    again = ConfigForm("hpc")  # loaded back, one line per option, and saved unchanged
    assert again.fields["resources"].input.value.splitlines()[-2:] == [
        "extra=--exclusive",
        "extra=--mail-type=END,FAIL",
    ]
    assert again.save() is not None
    assert cl.profiles.load("hpc").resources["extra"] == ["--exclusive", "--mail-type=END,FAIL"]


def test_form_says_what_the_scheduler_cannot_take() -> None:
    form = ConfigForm()
    form.fields["name"].input.value = "pb"
    form.fields["scheduler"].input.value = "pbs"
    form.fields["resources"].input.value = "qos=high"
    assert "PBS has no QOS" in form.fields["resources"].error.value
    assert form.save() is None


def test_form_shows_only_fields_of_the_scheduler() -> None:
    form = ConfigForm()
    form.fields["scheduler"].input.value = "local"
    assert form.fields["host"].row.layout.display == "none"
    assert form.fields["max_concurrent"].row.layout.display == "flex"
    form.fields["scheduler"].input.value = "slurm"
    assert form.fields["host"].row.layout.display == "flex"
    assert form.fields["max_concurrent"].row.layout.display == "none"


def test_form_test_connection_duplicate_export_import_delete() -> None:
    form = ConfigForm("local")
    form.test().join(timeout=60)
    assert form.report.value.count("clusterlab-check-ok") == 7  # packages and ipykernel too
    cl.profiles.save(cl.Profile(name="hpc", scheduler="slurm", host="h"))
    form.reload_names("hpc")
    form.duplicate()
    assert "hpc-copy" in cl.profiles.list() and form.chooser.value == "hpc-copy"
    text = form.export()
    assert "[profiles.hpc]" in text
    form.delete()
    cl.profiles.delete("hpc")
    assert cl.profiles.list() == ["local"]
    form.transfer.value = text
    form.import_()
    assert cl.profiles.list() == ["local", "hpc", "hpc-copy"]
    form.import_()  # the same again: refused, nothing changes
    assert "exist already" in form.message.value


def test_set_up_ssh_key_with_a_one_off_password(sandbox: object, tmp_path: Path) -> None:
    """Password typed once -> key installed -> key login verified; password never stored."""
    user = sandbox.ssh_user  # type: ignore[attr-defined]
    password = secrets.token_urlsafe(16)
    subprocess.run(["chpasswd"], input=f"{user}:{password}", text=True, check=True)
    try:
        form = ConfigForm()
        values = {
            "name": "keyed",
            "scheduler": "slurm",
            "host": sandbox.ssh_host,  # type: ignore[attr-defined]
            "port": sandbox.ssh_port,  # type: ignore[attr-defined]
            "user": user,
            "known_hosts": sandbox.known_hosts,  # type: ignore[attr-defined]
            "python": sandbox.remote_python,  # type: ignore[attr-defined]
            "ssh_config": str(tmp_path / "no_config"),
        }
        for name, value in values.items():
            form.fields[name].input.value = value
        key = tmp_path / "id_ed25519"
        form.key_path.value = str(key)  # a new key is generated there
        form.password.value = password
        form.setup_key().join(timeout=60)
        assert form.password.value == ""  # cleared at once
        assert "key login works" in form.message.value, form.report.value
        assert key.stat().st_mode & 0o777 == 0o600
        saved = cl.profiles.load("keyed")
        assert saved.key_file == str(key)
        assert password not in cl.profiles.path().read_text()
        assert cl.cluster("keyed")(lambda: 3)() == 3  # jobs now log in with the key
    finally:
        subprocess.run(["usermod", "-p", "*", user], check=True)


def test_monitor_orders_the_most_wasted_request_first(monitor: JobMonitor) -> None:
    """Issue 27: "the monitor sorts by waste". A job that asked for 2 GB and 2 cores and
    used a few MB and no CPU comes first; one that asked for nothing (nothing to judge)
    comes last, though it is the newest."""
    wasteful = cl.cluster("local", memory="2GB", cores=2)(abs).submit(-1)
    wasteful.result(timeout=60)
    plain = cl.cluster("local")(abs).submit(-2)
    plain.result(timeout=60)
    eventually(lambda: "COMPLETED" in row_text(monitor, plain.id))
    ids = [r.id for r in monitor.records()]
    assert ids.index(plain.id) < ids.index(wasteful.id)  # newest first by default
    monitor.order.value = "waste"
    ids = [r.id for r in monitor.records()]
    assert ids.index(wasteful.id) < ids.index(plain.id)
    boxes = list(monitor.table.children)
    assert boxes.index(monitor._rows[wasteful.id].box) < boxes.index(monitor._rows[plain.id].box)
