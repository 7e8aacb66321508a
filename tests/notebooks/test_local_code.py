"""A helper module next to the notebook, imported by a function that runs on a cluster
(issue 13): it travels by value, on the local scheduler and on SLURM over SSH."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import clusterlab as cl
from tests.conftest import ssh_profile
from tests.notebooks.test_magic import errors, text

pytestmark = pytest.mark.timeout(300)


def run_in(directory: Path, *sources: str) -> list[Any]:
    """Run cells in a kernel whose working directory is the notebook's, ``directory``."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    client = NotebookClient(
        nb,
        timeout=240,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(directory)}},
    )
    client.execute()
    return list(nb.cells)


@pytest.mark.parametrize("where", ["local", "slurm-ssh"])
def test_a_helper_module_next_to_the_notebook_runs_remotely(
    where: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    notebook_dir = tmp_path
    (notebook_dir / "nbhelpers.py").write_text(
        textwrap.dedent(
            """
            import statistics

            OFFSET = 100

            def score(values):
                return statistics.mean(values) + OFFSET
            """
        )
    )
    if where == "slurm-ssh":
        cl.profiles.save(ssh_profile(request.getfixturevalue("sandbox"), name="sb"))
    profile = "local" if where == "local" else "sb"
    cells = run_in(
        notebook_dir,
        "import clusterlab as cl\n%load_ext clusterlab\nfrom nbhelpers import score",
        f"print(cl.cluster({profile!r})(score)([1, 2, 3]))",
        f"%%cluster {profile}\nresult = score([10, 20])",
        "print(result)",
    )
    for cell in cells:
        assert errors(cell) == [], text(cell)
    assert text(cells[1]).strip() == "102"
    assert text(cells[3]).strip() == "115"


def test_cluster_cell_options_for_workdir_env_files_and_outputs(tmp_path: Path) -> None:
    notebook_dir = tmp_path
    (notebook_dir / "in.txt").write_text("three\nlines\nhere\n")
    work = notebook_dir / "remote-work"
    cells = run_in(
        notebook_dir,
        "%load_ext clusterlab",
        f"%%cluster local --workdir {work} --env 'GREETING=hi there' --files in.txt "
        "--outputs 'out/*.txt'\n"
        "import os\n"
        "n = len(open('in.txt').read().splitlines())\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/n.txt', 'w').write(f\"{os.environ['GREETING']} {n}\")\n"
        "where = os.getcwd()",
        "print(where, open('out/n.txt').read())",
    )
    for cell in cells:
        assert errors(cell) == [], text(cell)
    assert text(cells[2]).strip() == f"{work} hi there 3"
