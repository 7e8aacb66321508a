from __future__ import annotations

import pytest

from clusterlab.ui.cellvars import analyze
from clusterlab.ui.magic import MagicUsageError, parse_line


def test_reads_and_writes() -> None:
    reads, writes, _ = analyze(
        "import numpy as np\nfrom os import path\ny = f(x) + len(z)\nfor i in range(3):\n"
        "    total += i\ndef g(a):\n    return a * k\nclass C: pass\nwith open(p) as fh:\n"
        "    pass\nif (w := 3):\n    pass"
    )
    assert writes == ["np", "path", "y", "i", "total", "g", "C", "fh", "w"]
    assert {"f", "x", "z", "total", "k", "p"} <= set(reads)
    assert "len" not in reads and "range" not in reads


@pytest.mark.parametrize(
    ("source", "bound"),
    [
        ("with open(p) as f:\n    data = f.read()", ["f", "data"]),
        ("for i in xs:\n    last = i\nelse:\n    done = True", ["i", "last", "done"]),
        ("if c:\n    a = 1\nelif d:\n    b = 2\nelse:\n    a, (b, *c2) = t", ["a", "b", "c2"]),
        ("while go:\n    n += 1\n    m: int = n", ["n", "m"]),
        (
            "try:\n    x = f()\nexcept E:\n    y = 0\nelse:\n    z = 1\nfinally:\n    w = 2",
            ["x", "y", "z", "w"],
        ),
        (
            "async def main():\n    pass\nasync with s as conn:\n    async for r in conn:\n"
            "        rows = r",
            ["main", "conn", "r", "rows"],
        ),
        (
            "import a.b.c, d as e\nfrom m import (n, o as q)\nfrom star import *",
            ["a", "e", "n", "q"],
        ),
        ("total = sum([y := v * 2 for v in vs if (hit := v)])", ["total", "y", "hit"]),
        (
            "match cmd:\n    case [first, *rest]:\n        pass\n    case {'k': kv, **more}:\n"
            "        pass\n    case Point(x=px) as pt:\n        pass",
            ["first", "rest", "kv", "more", "px", "pt"],
        ),
        (
            "def f(a=(d := 1)):\n    global g\n    inner = 2\nclass C:\n    attr = 1",
            ["d", "f", "g", "C"],
        ),
        ("x: int\nk = lambda v, w=(lw := 1): (lv := v)", ["k", "lw"]),
    ],
    ids=[
        "with",
        "for",
        "if",
        "while",
        "try",
        "async",
        "import",
        "walrus-in-comprehension",
        "match",
        "def-class-global",
        "annotation-lambda",
    ],
)
def test_names_bound_at_any_block_depth_come_back(source: str, bound: list[str]) -> None:
    """Every name the cell's own scope binds, at any depth, and nothing of inner scopes."""
    assert analyze(source).writes == bound


def test_except_as_name_is_not_brought_back() -> None:
    """Python unbinds ``e`` when the handler ends: the cell has no ``e`` to bring back."""
    names = analyze("try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    msg = str(e)")
    assert names.writes == ["msg"] and names.deletes == []


def test_del_is_a_deletion_and_needs_the_name() -> None:
    names = analyze("old = 1\nif cond:\n    del old, stale\n    del table[0]")
    assert names.writes == ["old"]
    assert names.deletes == ["old", "stale"]
    assert {"stale", "table", "cond"} <= set(names.reads)  # `del stale` needs stale shipped


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


def test_a_cell_asking_local_for_nodes_is_refused_before_it_runs() -> None:
    import clusterlab as cl
    from clusterlab.ui.magic import run

    with pytest.raises(cl.ResourceError, match="the 'local' scheduler cannot take nodes=2"):
        run("local --nodes 2", "x = 1", {})
    assert cl.jobs() == []
