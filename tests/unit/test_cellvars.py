from __future__ import annotations

import pytest

from clusterlab.ui.cellvars import analyze
from clusterlab.ui.magic import MagicUsageError, parse_line


def test_reads_and_writes() -> None:
    reads, writes = analyze(
        "import numpy as np\nfrom os import path\ny = f(x) + len(z)\nfor i in range(3):\n"
        "    total += i\ndef g(a):\n    return a * k\nclass C: pass\nwith open(p) as fh:\n"
        "    pass\nif (w := 3):\n    pass"
    )
    assert writes == ["np", "path", "y", "i", "g", "C", "fh", "w"]
    assert {"f", "x", "z", "total", "k", "p"} <= set(reads)
    assert "len" not in reads and "range" not in reads


def test_syntax_error_is_raised() -> None:
    with pytest.raises(SyntaxError):
        analyze("x = (")


def test_magic_line_parsing() -> None:
    opts = parse_line("hpc --cores 4 --memory 8GB --time 1:00:00 --async --in a,b --out x")
    assert opts["profile"] == "hpc" and opts["cores"] == 4 and opts["async_"] is True
    assert opts["inputs"] == "a,b" and opts["outputs"] == "x"
    assert parse_line("")["profile"] is None
    with pytest.raises(MagicUsageError, match="usage: %%cluster"):
        parse_line("--cores many")
    with pytest.raises(MagicUsageError, match="unknown option"):
        parse_line("hpc --nodes-please 3")


def test_magic_line_takes_every_resource() -> None:
    opts = parse_line(
        "hpc --nodes 2 --tasks 8 --gpus a100:2 --qos high --constraint 'intel&ib' --cores 4"
    )
    assert (opts["nodes"], opts["tasks"], opts["cores"]) == (2, 8, 4)
    assert (opts["gpus"], opts["qos"], opts["constraint"]) == ("a100:2", "high", "intel&ib")
    assert parse_line("--gpus 2")["gpus"] == "2"  # a count, as the decorator takes it


def test_a_cell_asking_local_for_tasks_is_refused_before_it_runs() -> None:
    import clusterlab as cl
    from clusterlab.ui.magic import run

    with pytest.raises(cl.ResourceError, match="the 'local' scheduler cannot take tasks=2"):
        run("local --tasks 2", "x = 1", {})
    assert cl.jobs() == []
