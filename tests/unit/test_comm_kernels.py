"""The panel's "Start a notebook on this cluster" requests (``kernels.list``,
``kernels.install``) through the real comm handler, into a private JUPYTER_DATA_DIR (no
cluster is contacted; tests/integration/test_kernels.py starts such kernels for real)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clusterlab as cl
from clusterlab.config.resources import parse_resources
from tests.unit.test_comm import handler, request  # noqa: F401 (the fixture)
from tests.unit.test_hostile_input import JSON, assert_clear_error, hostile
from tests.unit.test_kernel_specs import jupyter_dir  # noqa: F401 (autouse: kernelspecs in tmp)


def test_list_gives_the_form_fields_with_tooltips(handler: Any) -> None:  # noqa: F811
    reply = request(*handler, "kernels.list")
    assert reply["ok"], reply
    names = [f["name"] for f in reply["data"]["fields"]]
    assert names == ["cores", "memory", "time", "gpus", "partition"]
    assert all(f["tooltip"] and f["label"] and f["example"] for f in reply["data"]["fields"])
    assert reply["data"]["kernels"] == []


def test_install_then_reuse(handler: Any, jupyter_dir: Path) -> None:  # noqa: F811
    values = {"cores": "4", "memory": "", "time": "2:00:00", "gpus": "", "partition": ""}
    reply = request(*handler, "kernels.install", {"profile": "hpc", "resources": values})
    assert reply["ok"], reply
    kernel = reply["data"]["kernel"]
    assert reply["data"]["reused"] is False
    assert kernel["name"] == "clusterlab-hpc"
    assert kernel["display_name"] == "Python on hpc (SLURM, 4 cores, 2 h, normal)"
    spec = json.loads((jupyter_dir / "kernels" / "clusterlab-hpc" / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["config"]["resources"] == {
        "cores": 4,
        "time": "02:00:00",
        "partition": "normal",
    }
    # the same resources again: the installed kernelspec is named, not made again
    again = request(*handler, "kernels.install", {"profile": "hpc", "resources": values}, "r2")
    assert again["ok"] and again["data"]["reused"] is True
    assert again["data"]["kernel"]["name"] == "clusterlab-hpc"
    listed = request(*handler, "kernels.list", id_="r3")["data"]["kernels"]
    assert [k["name"] for k in listed] == ["clusterlab-hpc"]
    # other resources replace clusterlab-hpc (as `clusterlab kernel install` does)
    other = {"cores": "8"}
    third = request(*handler, "kernels.install", {"profile": "hpc", "resources": other}, "r4")
    assert third["ok"] and third["data"]["reused"] is False
    assert third["data"]["kernel"]["display_name"] == "Python on hpc (SLURM, 8 cores, normal)"


def test_bad_values_come_back_under_their_fields(handler: Any, jupyter_dir: Path) -> None:  # noqa: F811
    values = {"cores": "four", "memory": "lots", "time": "2:00:00"}
    reply = request(*handler, "kernels.install", {"profile": "hpc", "resources": values})
    assert not reply["ok"]
    fields = reply["error"]["fields"]
    assert set(fields) == {"cores", "memory"}
    assert "must be a whole number, e.g. cores=4" in fields["cores"]
    assert "memory=" in fields["memory"]
    assert not (jupyter_dir / "kernels").exists()  # nothing installed


def test_unknown_profile_and_wrong_types_are_sentences(handler: Any) -> None:  # noqa: F811
    reply = request(*handler, "kernels.install", {"profile": "ghost"})
    assert not reply["ok"] and "no profile named 'ghost'" in reply["error"]["message"]
    reply = request(*handler, "kernels.install", {}, "r2")
    assert reply["error"]["message"] == "'profile' (a profile name) is required"
    reply = request(*handler, "kernels.install", {"profile": "hpc", "resources": 4}, "r3")
    assert "'resources' must be an object" in reply["error"]["message"]
    reply = request(*handler, "kernels.install", {"profile": "hpc", "resources": {"x": 1}}, "r4")
    assert "not a field of this form" in reply["error"]["fields"]["x"]


def test_remaining_time_of_a_kernels_job(handler: Any) -> None:  # noqa: F811
    """A running job named as the provisioner names a kernel's job: the reply says how
    long its allocation has left; another kernel id has none."""
    import threading

    flag = Path(os.environ["CLUSTERLAB_DATA_DIR"]) / "release"

    @cl.cluster("local", name="kernel-abcdef12", time="0:30:00", async_submit=True)
    def hold(path: str) -> str:
        import os as _os
        import time as _time

        while not _os.path.exists(path):
            _time.sleep(0.1)
        return "released"

    job = hold(str(flag))
    try:
        deadline = 60.0
        while job.state.value != "RUNNING" and deadline > 0:
            threading.Event().wait(0.2)
            deadline -= 0.2
        reply = request(*handler, "kernels.remaining", {"kernel_id": "abcdef12-3456-7890"})
        assert reply["ok"], reply
        got = reply["data"]["allocation"]
        assert got["found"] and got["job"] == job.id and got["state"] == "RUNNING"
        assert 0 < got["left"] <= 1800
        assert got["text"] in ("29 min left", "30 min left")
        none = request(*handler, "kernels.remaining", {"kernel_id": "ffffffff-0000"}, "r2")
        assert none["data"]["allocation"] == {"found": False, "text": ""}
    finally:
        flag.write_text("go")
        assert job.result(timeout=60) == "released"


def test_left_text() -> None:
    from clusterlab.kernels.allocation import left_text

    assert left_text(30) == "under a minute left"
    assert left_text(9 * 60 + 59) == "9 min left"
    assert left_text(80 * 60) == "1 h 20 min left"


FORM_FIELDS = ["cores", "memory", "time", "gpus", "partition"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    resources=st.one_of(
        JSON, st.dictionaries(st.sampled_from(FORM_FIELDS), st.one_of(JSON, hostile()), max_size=5)
    ),
    kernel_id=JSON,
)
def test_hostile_values_get_one_reply_in_words(
    handler: Any,  # noqa: F811
    jupyter_dir: Path,  # noqa: F811
    resources: Any,
    kernel_id: Any,
) -> None:
    """Whatever the form's fields hold, kernels.install answers once: a kernelspec whose
    stored resources parse again (the values are data), or an error in words; the same
    for kernels.remaining's kernel id."""
    h, comm = handler
    comm.sent.clear()
    reply = request(h, comm, "kernels.install", {"profile": "hpc", "resources": resources}, "k")
    if reply["ok"]:
        stored = reply["data"]["kernel"]["resources"]
        parse_resources(stored)  # what the provisioner will hand to the scheduler's parser
        assert reply["data"]["kernel"]["name"] == "clusterlab-hpc"
    else:
        assert_clear_error(reply)
    reply = request(h, comm, "kernels.remaining", {"kernel_id": kernel_id}, "t")
    if reply["ok"]:
        assert reply["data"]["allocation"] == {"found": False, "text": ""}
    else:
        assert_clear_error(reply)
    assert len([m for m in comm.sent if m.get("id") in ("k", "t")]) == 2
