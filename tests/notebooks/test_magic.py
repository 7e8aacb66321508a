"""%%cluster in real kernels, driven by nbclient as a notebook would run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import clusterlab as cl
from tests.conftest import ssh_profile

pytestmark = pytest.mark.timeout(300)


def run_notebook(*sources: str, allow_errors: bool = True) -> list[Any]:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=240, kernel_name="python3", allow_errors=allow_errors).execute()
    return list(nb.cells)


def text(cell: Any) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "execute_result":
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "".join(parts)


def errors(cell: Any) -> list[Any]:
    return [o for o in cell.outputs if o.output_type == "error"]


def test_import_alone_changes_nothing() -> None:
    cells = run_notebook(
        "import clusterlab",
        "print(get_ipython().find_cell_magic('cluster'))",
        "%load_ext clusterlab\nprint(get_ipython().find_cell_magic('cluster') is not None)",
    )
    assert cells[0].outputs == []
    assert text(cells[1]).strip() == "None"
    assert text(cells[2]).strip() == "True"


@pytest.mark.parametrize("where", ["local", "slurm-ssh"])
def test_cell_runs_remotely_and_brings_variables_back(
    where: str, request: pytest.FixtureRequest
) -> None:
    if where == "slurm-ssh":
        cl.profiles.save(ssh_profile(request.getfixturevalue("sandbox"), name="sb"))
    profile = "local" if where == "local" else "sb"
    cells = run_notebook(
        "%load_ext clusterlab\nimport math\nbase = 20",
        f"%%cluster {profile} --cores 1 --memory 200MB\n"
        "import socket\n"
        "answer = base * 2 + int(math.sqrt(4))\n"
        "def twice(v):\n    return 2 * v\n"
        "print('computed remotely', answer)\n"
        "answer + 1",
        "print(answer, twice(answer), 'socket' in dir())",
    )
    assert errors(cells[1]) == []
    assert "computed remotely 42" in text(cells[1])
    assert "43" in text(cells[1])  # the last expression is the cell's value
    assert text(cells[2]).strip() == "42 84 True"


def test_async_cell_assigns_when_done() -> None:
    cells = run_notebook(
        "%load_ext clusterlab\nx = 5",
        "%%cluster local --async\nimport time\ntime.sleep(1)\ny = x * 3",
        "print(type(_cluster_job).__name__)\n_cluster_job.result(timeout=120)\nimport time\n"
        "for _ in range(100):\n    if 'y' in globals(): break\n    time.sleep(0.05)\nprint(y)",
    )
    assert "submitted job" in text(cells[1]) and "_cluster_job" in text(cells[1])
    assert text(cells[2]).split() == ["Job", "15"]


def test_retries_and_requeue_reach_the_cells_job() -> None:
    cells = run_notebook(
        "%load_ext clusterlab",
        "%%cluster local --async --retries 2\ny = 1",
        "_cluster_job.result(timeout=120)\nprint(_cluster_job.max_attempts, _cluster_job.attempts)",
        "%%cluster local --requeue\ny = 2",
    )
    assert text(cells[2]).split() == ["3", "1"]  # may run 3 times; ran once
    assert "requeue=True needs a scheduler that requeues" in text(cells[3])


def test_async_cell_binds_the_job_to_its_name() -> None:
    cells = run_notebook(
        "%load_ext clusterlab",
        "%%cluster local --async --name sweep\nz = 6 * 7",
        "print(sweep.name, sweep.result(timeout=120)['outputs'])",
    )
    assert "as sweep (and _cluster_job)" in text(cells[1])
    assert text(cells[2]).strip() == "sweep {'z': 42}"


def plain(tb: str) -> str:
    """A traceback as the user reads it (IPython colours it with ANSI escapes)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", tb)


# Frames of clusterlab's own machinery (local and remote) that a user must not wade through.
MACHINERY = ("magic.py", "api.py", "concurrent/futures", "runner.py", "<dynamic-code>", "run_cell")


def test_remote_error_in_a_cell_shows_the_editors_line_with_its_source() -> None:
    cells = run_notebook(
        "%load_ext clusterlab",
        "%%cluster local\na = 1\nb = 0\nc = a / b\n",
        "%%cluster local\nok = 1\nbad = (\n",
    )
    (err,) = errors(cells[1])
    assert err.ename == "ZeroDivisionError"  # the remote exception keeps its type
    tb = plain(text(cells[1]))
    # The editor's numbering (the magic line is line 1), the cell's name, its source line
    assert "Cell In[2], line 4, in <module>\n    c = a / b" in tb
    assert not [m for m in MACHINERY if m in tb], tb
    (syntax,) = errors(cells[2])  # refused here, before submission, on the editor's line
    assert syntax.ename == "SyntaxError" and "line 3" in plain(text(cells[2]))


@pytest.mark.parametrize("where", ["local", "slurm-ssh"])
def test_remote_error_in_a_notebook_function_shows_its_cell_and_source(
    where: str, request: pytest.FixtureRequest
) -> None:
    """The cluster has no file for a function defined in a cell: the kernel fills it in."""
    if where == "slurm-ssh":
        cl.profiles.save(ssh_profile(request.getfixturevalue("sandbox"), name="sb"))
    profile = "local" if where == "local" else "sb"
    cells = run_notebook(
        "import clusterlab as cl\n"
        "class Oops(Exception):\n    pass\n"
        "def inner(v):\n    scale = 2\n    raise Oops(f'bad value {v * scale}')\n"
        "def outer(v):\n    return inner(v) + 1",
        f"cl.cluster({profile!r})(outer)(3)",
        f"with cl.Executor({profile!r}) as ex:\n    job = ex.submit(outer, 4)\n"
        "try:\n    job.result()\nexcept Oops as exc:\n    print('caught', exc)",
    )
    (err,) = errors(cells[1])
    assert err.ename == "Oops" and err.evalue == "bad value 6"
    tb = plain(text(cells[1]))
    assert "Cell In[1], line 8, in outer\n    return inner(v) + 1" in tb
    assert "Cell In[1], line 6, in inner\n    raise Oops(f'bad value {v * scale}')" in tb
    assert not [m for m in MACHINERY if m in tb], tb
    assert text(cells[2]).strip() == "caught bad value 8"


def test_names_bound_in_blocks_come_back_and_del_deletes(tmp_path: Path) -> None:
    data_file = tmp_path / "data.txt"
    data_file.write_text("hello")
    cells = run_notebook(
        f"%load_ext clusterlab\np = {str(data_file)!r}\ndone = False\ngone = 1\ne = 'mine'",
        "%%cluster local\n"
        "with open(p) as f:\n    data = f.read()\n"
        "for i in range(3):\n    last = i\n"
        "if data:\n    flag = 'yes'\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    caught = str(e)\n"
        "while not done:\n    done = True\n"
        "squares = [sq := k * k for k in range(4)]\n"
        "del gone",
        "print(data, last, flag, caught, done, sq, 'gone' in globals(), e)",
        "kept_too = 0\nstale = 1",
        "%%cluster local --out kept\nif True:\n    kept = 1\n    kept_too = 2\ndel stale",
        "print(kept, kept_too, 'stale' in globals())",
    )
    assert [errors(c) for c in cells] == [[]] * len(cells)
    # `e` of `except ... as e` is unbound by Python when the handler ends: yours stays
    assert text(cells[2]).strip() == "hello 2 yes division by zero True 9 False mine"
    assert text(cells[5]).split() == ["1", "0", "True"]  # --out narrows binds and deletes


def test_unpicklable_name_is_refused_before_submission() -> None:
    cells = run_notebook(
        "%load_ext clusterlab\nimport threading\nlock = threading.Lock()\nimport clusterlab as cl\n"
        "n = len(cl.jobs())",
        "%%cluster local\nwith lock:\n    z = 1",
        "print(len(cl.jobs()) - n)",
    )
    (err,) = errors(cells[1])
    assert err.ename == "SerializationError"
    assert "cannot send lock" in err.evalue and "--in" in err.evalue
    assert text(cells[2]).strip() == "0"


def test_in_and_out_choose_what_travels_and_bad_options_are_usage_errors() -> None:
    cells = run_notebook(
        "%load_ext clusterlab\nkeep = 1\nbig = list(range(10))",
        "%%cluster local --in keep --out result\nresult = keep + 1\nother = 5",
        "print(result, 'other' in globals())",
        "%%cluster local --bogus\npass",
    )
    assert text(cells[2]).strip() == "2 False"
    # IPython shows a UsageError as a short message, without a traceback
    assert "UsageError" in text(cells[3]) and "--bogus" in text(cells[3])


def test_map_shows_a_progress_bar_in_a_kernel_unless_turned_off() -> None:
    cells = run_notebook(
        "import clusterlab as cl\narr = cl.cluster('local')(abs).map([-1, -2, -3])\n"
        "print(arr.results(timeout=120))",
        "arr2 = cl.cluster('local')(abs).map([-4], progress=False)\n"
        "print(arr2.results(timeout=120))",
    )
    widgets = [
        o
        for o in cells[0].outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(widgets) == 1 and "[1, 2, 3]" in text(cells[0])
    assert [o.output_type for o in cells[1].outputs] == ["stream"]
