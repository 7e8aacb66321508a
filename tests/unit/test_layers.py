"""The package layout is the architecture (docs/architecture.md): these tests keep it so.

Every import inside ``clusterlab`` goes down the layers or stays in its own, never up;
the faces (``ui``) never reach a scheduler or a transport; the code shipped to the cluster
imports nothing of clusterlab; no module grows past what one reader can hold.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "clusterlab"

# Lowest first. A module may import from its own layer and any layer below it.
LAYERS = [
    {"common", "remote", "_version"},
    {"config"},
    {"transports"},
    {"backends"},
    {"core"},
    {"api", "jobs", "profiles", "ranks", "sshkeys", "discovery", "kernels"},
    {"ui"},
]
# Nothing may import up a layer (the scheduler kinds' registry is common.kinds).
ALLOWED_UP: set[tuple[str, str]] = set()
# The faces read events and the ledger; they never talk to a scheduler directly.
FORBIDDEN = {"ui": ("backends", "transports")}
MAX_LINES = 400
# The runner ships to the cluster in two files (runner.py, runner_items.py in each job dir).
# The host queue's dispatcher is installed on the host as one content-addressed file (it
# cannot import a sibling), with its own guards (malformed exit lines, the log cut, its
# host's queue only) and the local scheduler's jobs held for their kernel, then taken over.
# The runner's third file (multi-task jobs) holds the launchers (srun, mpirun with Open
# MPI's settings, plain processes), a rank's run and cl.task(): shipped as one file, loaded
# by path, it cannot import a sibling.
# runner.py's main() wires the parts that run each call (attempts, the clusterlab stand-in,
# multi-task launch, the container's lock watch, checkpoints): the parts live in their own
# shipped files and main() is the one place that orders them.
# The status agent is one source text run with `python -c` on the cluster (it cannot
# import a sibling): watching status files, pushing followed logs under a per-job cap,
# and what a job's or item's end needs (log sizes, small results) before its line.
LONGER: dict[str, int] = {
    "remote/agent.py": 520,
    "remote/hostqueue.py": 530,
    "remote/runner_tasks.py": 510,
    "remote/runner.py": 430,
}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def _layer(module: str) -> int:
    top = module.split(".")[0]
    for level, names in enumerate(LAYERS):
        if top in names:
            return level
    return len(LAYERS)  # the package root and _version: the composition root


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """``(imported module relative to clusterlab, line)`` for every intra-package import."""
    is_package = path.name == "__init__.py"
    here = module.split(".") if module else []
    package = here if is_package else here[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = [*base, *(node.module.split(".") if node.module else [])]
                if node.module is None:  # from . import x: x may be a module
                    found += [(".".join([*target, a.name]), node.lineno) for a in node.names]
                    continue
                for alias in node.names:  # from .pkg import module, or a name of .pkg
                    sub = [*target, alias.name]
                    is_module = PACKAGE.joinpath(*sub).with_suffix(".py").exists()
                    found.append((".".join(sub if is_module else target), node.lineno))
            elif node.module and node.module.startswith("clusterlab"):
                found.append((node.module.partition(".")[2], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("clusterlab"):
                    found.append((alias.name.partition(".")[2], node.lineno))
    return found


MODULES = _modules()


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m or "clusterlab" for m, _ in MODULES])
def test_no_import_goes_up_a_layer(module: str, path: Path) -> None:
    mine = _layer(module)
    top = module.split(".")[0]
    for target, line in _imports(module, path):
        if any(top == low and target.startswith(up) for low, up in ALLOWED_UP):
            continue
        where = f"{path.relative_to(PACKAGE)}:{line} imports clusterlab.{target}"
        if top == "remote":
            raise AssertionError(f"{where}: code shipped to the cluster imports only stdlib")
        for banned in FORBIDDEN.get(top, ()):
            assert not target.startswith(banned), f"{where}: the UI must not reach {banned}"
        assert _layer(target) <= mine, f"{where}, a higher layer"


def test_the_rules_see_every_layer() -> None:
    """A new top-level module or folder must be placed in a layer on purpose."""
    tops = {m.split(".")[0] for m, _ in MODULES if m}
    known = set().union(*LAYERS)
    assert tops <= known, f"place {sorted(tops - known)} in LAYERS (docs/architecture.md)"


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m or "clusterlab" for m, _ in MODULES])
def test_modules_stay_small(module: str, path: Path) -> None:
    lines = len(path.read_text().splitlines())
    name = path.relative_to(PACKAGE).as_posix()
    assert lines <= LONGER.get(name, MAX_LINES), f"{name} has {lines} lines: split it by job"
