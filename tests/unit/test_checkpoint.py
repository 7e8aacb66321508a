"""cl.checkpoint: saved by one run of a job, loaded by the next, through the real runner;
also where the cluster's Python has cloudpickle but not clusterlab (the runner's shim)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest

import clusterlab as cl
from clusterlab.common import jobdir
from clusterlab.core.transfer.payload import dumps_call, dumps_function, dumps_items, load_result
from clusterlab.remote import checkpoint, runner

REMOTE = Path(runner.__file__).parent


def _stage(job_dir: Path) -> None:
    for name in jobdir.RUNNER_FILES:
        (job_dir / name).write_bytes((REMOTE / name).read_bytes())


def _cloudpickle_only(tmp: Path) -> tuple[list[str], dict[str, str]]:
    """This Python without its site-packages (-S) but with cloudpickle on PYTHONPATH: a
    cluster's Python that has cloudpickle and not clusterlab."""
    lib = tmp / "only-cloudpickle"
    lib.mkdir(exist_ok=True)
    link = lib / "cloudpickle"
    if not link.exists():
        link.symlink_to(Path(cloudpickle.__file__).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CLUSTERLAB_"))}
    env["PYTHONPATH"] = str(lib)
    probe = [
        sys.executable,
        "-S",
        "-c",
        "import cloudpickle, importlib.util as u;assert u.find_spec('clusterlab') is None",
    ]
    subprocess.run(probe, env=env, check=True)  # the premise: no clusterlab there
    return [sys.executable, "-S"], env


def _counter(label: str) -> str:
    """Resumes from its checkpoint: each run counts one more. Uses ``cl`` as a notebook
    does (the module travels by reference: unpickling it imports clusterlab)."""
    n = cl.checkpoint.load(0)
    cl.checkpoint.save(n + 1)
    return f"{label}:{n}"


def _run(job_dir: Path, python: list[str], env: dict[str, str] | None, *task: str) -> int:
    argv = [*python, jobdir.RUNNER, str(job_dir), *task]
    return subprocess.run(argv, cwd=job_dir, env=env, check=False).returncode


@pytest.mark.parametrize("where", ["clusterlab installed", "only cloudpickle"])
def test_a_second_run_resumes_from_the_checkpoint_of_the_first(tmp_path: Path, where: str) -> None:
    python, env = [sys.executable], None
    if where == "only cloudpickle":
        python, env = _cloudpickle_only(tmp_path)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    _stage(job_dir)
    (job_dir / jobdir.PAYLOAD).write_bytes(dumps_call(_counter, ("a",), {}, {}))
    seen = []
    for _ in range(2):  # a requeued job runs its script again in the same job dir
        assert _run(job_dir, python, env) == 0, (job_dir / jobdir.STATUS).read_text()
        seen.append(load_result((job_dir / jobdir.RESULT).read_bytes()))
    assert seen == [(True, "a:0"), (True, "a:1")]
    assert (job_dir / jobdir.CHECKPOINT).stat().st_mode & 0o777 == 0o600


def test_array_items_keep_their_own_checkpoints(tmp_path: Path) -> None:
    python, env = _cloudpickle_only(tmp_path)
    _stage(tmp_path)
    (tmp_path / jobdir.FUNCTION).write_bytes(dumps_function(_counter))
    (tmp_path / jobdir.ITEMS).mkdir()
    (tmp_path / jobdir.RESULTS).mkdir()
    calls = [(0, ("x",), {}, {}), (1, ("y",), {}, {})]
    (tmp_path / jobdir.task_items(0)).write_bytes(dumps_items("c", calls))
    assert _run(tmp_path, python, env, "0") == 0
    assert _run(tmp_path, python, env, "0") == 0
    results = [load_result((tmp_path / jobdir.item_result(i)).read_bytes()) for i in (0, 1)]
    assert results == [(True, "x:1"), (True, "y:1")]  # each item resumed from its own


def test_outside_a_job_the_checkpoint_lives_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calling the function in the notebook to try it runs the same code."""
    monkeypatch.delenv(jobdir.CHECKPOINT_VAR, raising=False)
    monkeypatch.setattr(checkpoint, "_in_memory", checkpoint._MISSING)
    assert not cl.checkpoint.exists() and cl.checkpoint.load("fresh") == "fresh"
    assert _counter("here") == "here:0"
    assert _counter("here") == "here:1" and cl.checkpoint.exists()


def test_a_save_replaces_the_previous_one_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ck" / jobdir.CHECKPOINT
    monkeypatch.setenv(jobdir.CHECKPOINT_VAR, str(target))
    cl.checkpoint.save({"step": 1})
    cl.checkpoint.save({"step": 2})
    assert cl.checkpoint.load() == {"step": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == [jobdir.CHECKPOINT]  # no temps


def test_one_stand_in_gives_cl_task_and_cl_checkpoint(tmp_path: Path) -> None:
    """The runner's one ``clusterlab`` stand-in (shim.install) holds runner_tasks.py's
    names (cl.task(), cl.TaskInfo, renamed into clusterlab so that they pickle as the real
    package's) beside cl.checkpoint; a second install adds to the first."""
    python, env = _cloudpickle_only(tmp_path)
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(REMOTE)!r})\n"
        "import runner_tasks, shim\n"
        f"first = shim.install({str(REMOTE)!r})\n"
        f"assert shim.install({str(REMOTE)!r}, runner_tasks.SHIM_ATTRIBUTES) is first\n"
        "import clusterlab as cl\n"
        "from clusterlab.remote.checkpoint import load\n"
        "t = cl.task()\n"
        "print(t.rank, t.world_size, type(t).__module__, cl.checkpoint.load('none'), load('-'))\n"
    )
    out = subprocess.run([*python, "-c", script], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["0", "1", "clusterlab", "none", "-"], out.stderr
