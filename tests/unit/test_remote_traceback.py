"""A remote traceback shows the user's frames, with their source, and nothing of ours.

The real runner runs a function compiled the way IPython compiles a cell (a file name with
no file behind it, the text in ``linecache``); the kernel reads the result back.
"""

from __future__ import annotations

import linecache
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clusterlab.common import jobdir
from clusterlab.common.errors import RemoteTraceback, readable_traceback
from clusterlab.core.transfer.payload import dumps_call, load_result
from clusterlab.remote import runner

CELL = "/tmp/ipykernel_0/fake-cell.py"  # what ipykernel names a cell; no such file exists
SOURCE = (
    "def helper(v):\n"
    "    scale = 2\n"
    "    raise ValueError(f'bad {v * scale}')\n"
    "def entry(v):\n"
    "    __tracebackhide__ = True\n"
    "    return helper(v)\n"
)


@pytest.fixture
def cell() -> Iterator[dict[str, Any]]:
    """The functions of a notebook cell, its text cached as IPython caches a cell's."""
    linecache.cache[CELL] = (len(SOURCE), None, SOURCE.splitlines(True), CELL)
    namespace: dict[str, Any] = {}
    exec(compile(SOURCE, CELL, "exec"), namespace)  # noqa: S102 - a cell, as IPython runs it
    yield namespace
    linecache.cache.pop(CELL, None)


def _remote_error(tmp_path: Path, fn: Callable[..., Any], *args: Any) -> BaseException:
    (tmp_path / jobdir.PAYLOAD).write_bytes(dumps_call(fn, args, {}, {}))
    for name in jobdir.RUNNER_FILES:  # the runner and its second file
        (tmp_path / name).write_bytes((Path(runner.__file__).parent / name).read_bytes())
    subprocess.run([sys.executable, jobdir.RUNNER, str(tmp_path)], cwd=tmp_path, check=False)
    ok, exc = load_result((tmp_path / jobdir.RESULT).read_bytes())
    assert not ok and isinstance(exc, BaseException)
    return exc


def test_frames_of_a_cell_function_name_the_cell_and_quote_its_lines(
    tmp_path: Path, cell: dict[str, Any]
) -> None:
    exc = _remote_error(tmp_path, cell["entry"], 3)
    assert type(exc) is ValueError and str(exc) == "bad 6"
    assert isinstance(exc.__cause__, RemoteTraceback)
    tb = exc.__cause__.tb
    assert f"File \"{CELL}\", line 3, in helper\n    raise ValueError(f'bad {{v * scale}}')" in tb
    # the runner's own frames and a frame that asks to be hidden are not shown
    assert "runner.py" not in tb and "in entry" not in tb and "<dynamic-code>" not in tb


def test_source_is_never_taken_from_a_file_on_this_machine(tmp_path: Path) -> None:
    """The cluster's copy of a file may differ from ours: only cells are filled in."""
    here = Path(__file__)
    text = f'Traceback (most recent call last):\n  File "{here}", line 1, in <module>\nE: x\n'
    assert readable_traceback(text) == text
    cell_text = text.replace(str(here), CELL)
    linecache.cache[CELL] = (4, None, ["first = 1\n"], CELL)
    try:
        assert "in <module>\n    first = 1\nE: x\n" in readable_traceback(cell_text)
    finally:
        linecache.cache.pop(CELL, None)
