"""The import graph of ``clusterlab`` stays a tree of layers (docs/architecture.md).

Read from the source with :mod:`ast` (nothing is imported), so a rule broken anywhere in
the package fails here, naming the file and line:

- no module uses another module's private names: no ``from x import _name``, no
  ``module._name`` of an imported clusterlab module, and no ``obj._name`` of a private
  attribute or method that another clusterlab module defines (what an engine object
  offers its collaborators is public, and documented as engine-only where users should
  not call it: ``Job.set_state``);
- no import cycle among the package's modules, counting the imports made inside
  functions (they run too, and hiding a cycle is what they were used for); imports under
  ``if TYPE_CHECKING:`` never run and are not counted.

- inside ``core/``, the rooms are floors too: a room imports from its own and lower
  rooms only (``CORE_ROOMS``), and the wiring (``runtime``, ``entry``, ``check``,
  ``preview``) sits on top.

That no import goes up a layer (ui > api/jobs/profiles > core > backends > transports >
config > common; remote/ imports nothing of clusterlab) is ``test_layers.py``'s rule.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "clusterlab"

# core's rooms, lowest first; core's own modules (runtime, entry, check, preview) wire them.
CORE_ROOMS = ["environment", "transfer", "model", "ledger", "watching", "submission"]

# (importing module, private name): why it may stay for now. Keep this short.
ALLOWED_PRIVATE: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    target: str  # module imported from, relative to clusterlab ("core.model.job")
    name: str | None  # the name taken from it (None: the module itself)
    line: int
    kind: str  # "top" (module level), "function" (inside a def) or "type" (TYPE_CHECKING)
    bound: str = ""  # the local name it is bound to


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def _walk(node: ast.AST, kind: str = "top") -> Iterator[tuple[ast.AST, str]]:
    """Every node with where it runs: at import, inside a function, or never (typing)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.body:
                yield sub, "type"
                yield from _walk(sub, "type")
            for sub in child.orelse:
                yield sub, kind
                yield from _walk(sub, kind)
            continue
        inner = kind
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and kind == "top":
            inner = "function"
        yield child, kind
        yield from _walk(child, inner)


def _imports(module: str, path: Path) -> list[Import]:
    """Every import of a clusterlab module in ``module``, resolved to module names."""
    here = module.split(".") if module else []
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node, kind in _walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module == "clusterlab" or (node.module or "").startswith("clusterlab."):
                target = (node.module or "").split(".")[1:]
            else:
                continue
            for alias in node.names:
                sub = ".".join([*target, alias.name])
                bound = alias.asname or alias.name
                if sub in MODULES:  # from package import module
                    found.append(Import(sub, None, node.lineno, kind, bound))
                else:
                    found.append(Import(".".join(target), alias.name, node.lineno, kind, bound))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "clusterlab" or alias.name.startswith("clusterlab."):
                    bound = alias.asname or alias.name.split(".")[0]
                    target = alias.name.partition(".")[2]
                    found.append(Import(target, None, node.lineno, kind, bound))
    return found


def _private(name: str) -> bool:
    """``_name``, not ``__dunder__`` and not ``_sunder_`` (IPython's ``_repr_html_``)."""
    return name.startswith("_") and not name.startswith("__") and not name.endswith("_")


def _defined_private(path: Path) -> set[str]:
    """Private names a module defines: functions, classes, globals, attributes, methods."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if _private(n)}


DEFINED = {module: _defined_private(path) for module, path in MODULES.items()}


def _owners(name: str, module: str) -> list[str]:
    return sorted(m for m, names in DEFINED.items() if name in names and m != module)


def _private_uses(module: str, path: Path) -> list[str]:
    """Where ``module`` uses a private name of another clusterlab module."""
    out = []
    imports = _imports(module, path)
    for imp in imports:
        if imp.name and _private(imp.name) and imp.target != module:
            out.append(f"line {imp.line}: from clusterlab.{imp.target} import {imp.name}")
    # names bound to clusterlab modules here ("from ..core.ledger import store as ledger")
    bound = {imp.bound for imp in imports if imp.name is None}
    tree = ast.parse(path.read_text())
    mine = DEFINED.get(module, set())
    # names bound to other packages' modules ("import os": os._exit is the stdlib's own)
    outside = {
        alias.asname or alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.split(".")[0] != "clusterlab"
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        value = node.value
        if isinstance(value, ast.Name) and value.id in ("self", "cls", *outside):
            continue
        if isinstance(value, ast.Call) and ast.unparse(value.func) == "super":
            continue
        if isinstance(value, ast.Name) and value.id in bound:
            out.append(f"line {node.lineno}: {ast.unparse(node)} (a private name of a module)")
        elif node.attr not in mine and (owners := _owners(node.attr, module)):
            if (module, node.attr) in ALLOWED_PRIVATE:
                continue
            out.append(f"line {node.lineno}: {ast.unparse(node)} (private to {', '.join(owners)})")
    return out


@pytest.mark.parametrize(
    ("module", "path"), MODULES.items(), ids=[m or "clusterlab" for m in MODULES]
)
def test_no_module_uses_another_modules_private_names(module: str, path: Path) -> None:
    uses = _private_uses(module, path)
    assert not uses, (
        f"{path.relative_to(PACKAGE)} uses private names of other modules: "
        + "; ".join(uses)
        + ". Give the name a public spelling in its own module (engine-only if users must "
        "not call it) and use that."
    )


def _graph(kinds: tuple[str, ...]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for imp in _imports(module, path):
            if imp.kind in kinds and imp.target != module and imp.target in MODULES:
                graph[module].add(imp.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle() -> None:
    """Imports inside functions count: they run, and they are how a cycle gets hidden."""
    found = cycles(_graph(("top", "function")))
    assert not found, "import cycles (module-level and function-local imports): " + "; ".join(
        " <-> ".join(c) for c in found
    )


def _floor(module: str) -> int | None:
    """Which floor of core ``module`` is on (None outside core)."""
    parts = module.split(".")
    if parts[0] != "core" or len(parts) < 2:
        return None
    if len(parts) == 2:  # core.runtime, core.entry, ...: the wiring, on top
        return len(CORE_ROOMS)
    return CORE_ROOMS.index(parts[1])


def test_core_rooms_import_only_their_own_and_lower_rooms() -> None:
    """Imports that run (module level and inside functions) go down the rooms."""
    rooms = {m.split(".")[1] for m in MODULES if m.startswith("core.") and m.count(".") >= 2}
    assert rooms == set(CORE_ROOMS), f"place {sorted(rooms ^ set(CORE_ROOMS))} in CORE_ROOMS"
    up = []
    for module, path in MODULES.items():
        mine = _floor(module)
        for imp in _imports(module, path):
            theirs = _floor(imp.target)
            if imp.kind != "type" and mine is not None and theirs is not None and theirs > mine:
                up.append(f"{path.relative_to(PACKAGE)}:{imp.line} imports clusterlab.{imp.target}")
    assert not up, "imports up core's rooms (CORE_ROOMS, lowest first): " + "; ".join(up)


def test_the_cycle_finder_finds_cycles() -> None:
    """The check above can fail: a two-module and a three-module cycle are found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert cycles(graph) == [["a", "b"], ["c", "d", "e"]]


def test_function_local_imports_are_counted(tmp_path: Path) -> None:
    """A cycle closed by an import inside a function is an edge of the graph."""
    path = tmp_path / "mod.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from clusterlab.core.runtime import Runtime\n"
        "def f():\n    from clusterlab.core.model import job\n"
        "from clusterlab.core.model.job import _private\n"
    )
    kinds = {(i.target, i.kind) for i in _imports("core.mod", path)}
    assert kinds == {
        ("core.runtime", "type"),
        ("core.model.job", "function"),
        ("core.model.job", "top"),
    }
    assert _private_uses("core.mod", path)  # the private import is caught
