"""Issue 25, defect 8: the panel has what the ipywidgets form has, "Set up SSH key" and
Export/Import, through ``profiles.setup_key``, ``profiles.export`` and
``profiles.import``. The key set-up is driven against a host name that does not resolve
(nothing leaves this machine): its steps are pushed, and it fails with the sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.ui.comm import CommHandler

from .test_comm import RecordingComm, request


@pytest.fixture
def handler() -> Any:
    comm = RecordingComm()
    h = CommHandler(comm)
    yield h, comm
    h.close()


def test_export_then_import_round_trips_the_profiles(handler: Any) -> None:
    h, comm = handler
    cl.profiles.save(cl.Profile(name="hpc", scheduler="slurm", host="login.example.edu"))
    text = request(h, comm, "profiles.export", {}, "a")["data"]["text"]
    assert "login.example.edu" in text
    cl.profiles.delete("hpc")
    done = request(h, comm, "profiles.import", {"text": text}, "b")
    assert done["ok"] and done["data"] == {"profiles": ["hpc"]}
    assert cl.profiles.load("hpc").host == "login.example.edu"
    bad = request(h, comm, "profiles.import", {"text": "not = [toml"}, "c")
    assert not bad["ok"] and bad["error"]["message"].startswith("nothing imported: ")


def test_setup_key_pushes_its_steps_and_says_why_it_failed(handler: Any, tmp_path: Path) -> None:
    h, comm = handler
    fields = {"name": "nosuch", "scheduler": "slurm", "host": "nosuchhost.invalid", "user": "jdoe"}
    key = tmp_path / "id_test"
    reply = request(
        h,
        comm,
        "profiles.setup_key",
        {"profile": fields, "password": "secret", "key_file": str(key)},
        "k",
    )
    steps = [m["data"]["text"] for m in comm.sent if m["type"] == "key.step"]
    assert steps and steps[0].startswith(f"key: {key}")  # the key was made first
    assert not reply["ok"]
    assert "cannot reach jdoe@nosuchhost.invalid:22" in reply["error"]["message"]
    assert "secret" not in str(comm.sent)  # the password is never sent back
    missing = request(h, comm, "profiles.setup_key", {"profile": fields}, "m")
    assert not missing["ok"] and "'password'" in missing["error"]["message"]
