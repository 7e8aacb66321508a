"""Scheduler kinds are plugins: a package that registers a ``SchedulerKind`` in the
``clusterlab.schedulers`` entry-point group adds a scheduler with no change to clusterlab.

A toy scheduler is installed as a real distribution (a ``.dist-info`` with its
``entry_points.txt`` in a temporary directory on the ``PYTHONPATH`` of a fresh
interpreter, since the Profile class is built once, when clusterlab is imported) and must
appear in profile validation, the CLI, the panel's form schema (the comm's ``hello``), the
docs' support table and the cluster key. And the layers below the backends stay free of
scheduler knowledge: no scheduler's name in config/ or core/ code.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "clusterlab"

TOY = """
from dataclasses import field

from clusterlab.common.kinds import ARRAYS, KindField, SchedulerKind
from clusterlab.config.fieldmeta import meta


def check_queue(value):
    text = str(value or "").strip()
    if text and not text.isalnum():
        raise ValueError("give a toy queue of letters and digits, e.g. 'batch'")
    return text


def check_profile(profile, errors):
    if not profile.toy_queue and "toy_queue" not in errors:
        errors["toy_queue"] = "a toy profile needs a queue, e.g. 'batch'"


QUEUE = KindField(
    "toy_queue",
    "str",
    field(default="", metadata=meta(
        "Toy queue", "The queue toy jobs wait in.", "batch", kinds=("toy",), check=check_queue
    )),
)

KIND = SchedulerKind(
    "toy",
    "Toy Scheduler",
    "a scheduler from another package, for the plugin test",
    "toy_sched:ToyBackend",
    frozenset({ARRAYS}),
    fields=(QUEUE,),
    check_profile=check_profile,
    cluster_key=("toy_queue",),
)
"""

PROBE = r"""
import contextlib, io, json, sys
sys.path.insert(0, sys.argv[1])  # docs/_ext
import clusterlab as cl
from clusterlab.common.errors import ProfileError
from clusterlab.core.pollstore import cluster_key
from clusterlab.ui import cli
from clusterlab.ui.comm import CommHandler
import profile_fields

out = {}
out["ok"] = cl.Profile(name="t", scheduler="toy", toy_queue="batch").to_dict()
for name, fields in {"missing": {}, "bad": {"toy_queue": "a b"}}.items():
    try:
        cl.Profile(name="t", scheduler="toy", **fields)
    except ProfileError as exc:
        out[name] = exc.errors
out["keys_differ"] = cluster_key(cl.Profile(name="a", scheduler="toy", toy_queue="q1")) != (
    cluster_key(cl.Profile(name="b", scheduler="toy", toy_queue="q2")))

help_text = io.StringIO()
with contextlib.redirect_stdout(help_text), contextlib.suppress(SystemExit):
    cli.main(["profile", "add", "--help"])
out["cli_help"] = help_text.getvalue()
with contextlib.redirect_stdout(io.StringIO()):
    out["cli_add"] = cli.main(["profile", "add", "tp", "--scheduler", "toy", "--toy-queue", "q"])
out["stored"] = cl.profiles.load("tp").to_dict()

class Comm:
    sent = []
    def on_msg(self, cb): self.cb = cb
    def on_close(self, cb): pass
    def send(self, msg): self.sent.append(msg)

comm = Comm()
handler = CommHandler(comm)
comm.cb({"content": {"data": {"v": 1, "type": "hello", "id": "h"}}})
comm.cb({"content": {"data": {"v": 1, "type": "profiles.validate", "id": "v",
                              "data": {"profile": {"name": "t", "scheduler": "toy"}}}}})
handler.close()
out["hello"] = next(m["data"] for m in comm.sent if m["id"] == "h")
out["validate"] = next(m["data"] for m in comm.sent if m["id"] == "v")
out["docs"] = profile_fields.scheduler_support()[1]
print(json.dumps(out))
"""


@pytest.fixture
def toy_dist(tmp_path: Path) -> Path:
    """A distribution 'toy-sched' with one module and its entry point, as pip leaves it."""
    site = tmp_path / "site"
    info = site / "toy_sched-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "toy_sched.py").write_text(textwrap.dedent(TOY))
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-sched\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[clusterlab.schedulers]\ntoy = toy_sched:KIND\n", encoding="utf-8"
    )
    return site


def _probe(site: Path, tmp_path: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "CLUSTERLAB_CONFIG_DIR": str(tmp_path / "config"),
        "CLUSTERLAB_DATA_DIR": str(tmp_path / "data"),
    }
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "docs" / "_ext")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    return result


def test_a_scheduler_from_another_package_is_everywhere(toy_dist: Path, tmp_path: Path) -> None:
    seen = _probe(toy_dist, tmp_path)
    # validation: its field, its field check and its check across fields
    assert seen["ok"] == {"name": "t", "scheduler": "toy", "toy_queue": "batch"}
    assert seen["missing"] == {"toy_queue": "a toy profile needs a queue, e.g. 'batch'"}
    assert seen["bad"] == {"toy_queue": "give a toy queue of letters and digits, e.g. 'batch'"}
    assert seen["keys_differ"]  # its cluster-key part tells two toy clusters apart
    # the CLI: the scheduler's help lists it, its field is an option that works
    help_text = " ".join(seen["cli_help"].split())
    assert "'toy' for Toy Scheduler" in help_text and "--toy-queue" in help_text
    assert seen["cli_add"] == 0 and seen["stored"]["toy_queue"] == "q"
    # the panel's form: the scheduler menu and the field, shown for that scheduler only
    assert "toy" in seen["hello"]["schedulers"]
    field = next(f for f in seen["hello"]["schema"] if f["name"] == "toy_queue")
    assert field["kinds"] == ["toy"] and field["label"] == "Toy queue"
    assert seen["validate"] == {"valid": False, "errors": seen["missing"]}
    # the docs' support table
    rows = {row[0][0]: row for row in seen["docs"]}
    assert (
        rows["toy"][0][1]
        == " (Toy Scheduler): a scheduler from another package, for the plugin test"
    )
    assert rows["toy"][1:] == ["yes", "no", "no", "no", "no"]


def test_without_the_plugin_the_scheduler_is_refused_by_name(tmp_path: Path) -> None:
    import clusterlab as cl
    from clusterlab.common.errors import ProfileError

    with pytest.raises(ProfileError) as caught:
        cl.Profile(name="t", scheduler="toy")
    assert caught.value.errors["scheduler"].startswith("'toy' is not supported; choose one of:")


# Scheduler names and their commands. 'local' is the built-in profile every install has.
_SCHEDULER_WORDS = re.compile(
    r"\b(slurm|sbatch|squeue|scancel|sacct|srun|pbs|torque|qsub|qstat|qdel|qacct|sge|"
    r"grid engine|kubernetes|kubectl|kubeconfig|k8s)\b|'direct'",
    re.IGNORECASE,
)


def _code_words(text: str) -> list[tuple[int, str]]:
    """Scheduler words in a module's code: names and strings, not comments or docstrings
    (those may say what a generic mechanism is for, e.g. 'one squeue per poll')."""
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    statement_start = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)
    words = (tokenize.NAME, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1))
    found = []
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.STRING:
            before = next((t for t in reversed(tokens[:i]) if t.type != tokenize.NL), None)
            after = next(t for t in tokens[i + 1 :] if t.type != tokenize.STRING)
            if (
                before is None or before.type in statement_start
            ) and after.type == tokenize.NEWLINE:
                continue  # a docstring
        if tok.type in words and _SCHEDULER_WORDS.search(tok.string.replace("_", " ")):
            found.append((tok.start[0], tok.string[:60]))
    return found


def test_no_scheduler_word_in_config_or_core_code() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {word}"
        for layer in ("config", "core")
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for line, word in _code_words(path.read_text())
    ]
    assert not found, "scheduler knowledge belongs in its kind (backends/*_kind.py):\n" + (
        "\n".join(found)
    )


def test_the_word_check_sees_code() -> None:
    """The check above can fail: it flags a name and a string, not a comment or docstring."""
    text = '"""about slurm"""\nx = profile.pbs_flavor  # sge\ny = "qsub -J"\nz = "local"\n'
    assert _code_words(text) == [(2, "pbs_flavor"), (3, '"qsub -J"')]
