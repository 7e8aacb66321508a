"""Which names a notebook cell reads and assigns, found by static analysis (no execution)."""

from __future__ import annotations

import ast
import builtins

_BUILTINS = frozenset(dir(builtins))


def _target_names(node: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def assigned_names(tree: ast.Module) -> list[str]:
    """Top-level names the cell binds: assignments, defs, classes, imports, for/with targets."""
    out: list[str] = []

    def add(names: list[str]) -> None:
        out.extend(n for n in names if n not in out)

    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                add(_target_names(target))
        elif isinstance(stmt, ast.AugAssign | ast.AnnAssign) and stmt.target is not None:
            add(_target_names(stmt.target))
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            add([stmt.name])
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            add([(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"])
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            add(_target_names(stmt.target))
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                if item.optional_vars is not None:
                    add(_target_names(item.optional_vars))
        for node in ast.walk(stmt):  # walrus anywhere at top level binds in the cell scope
            if isinstance(node, ast.NamedExpr):
                add([node.target.id])
    return out


def read_names(tree: ast.Module) -> list[str]:
    """Names the cell loads that are not builtins (candidates to ship from the namespace)."""
    out: list[str] = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            name = node.target.id  # `total += i` reads total first
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            name = node.id
        if name and name not in _BUILTINS and name not in out:
            out.append(name)
    return out


def analyze(source: str) -> tuple[list[str], list[str]]:
    """``(reads, writes)`` of a cell's source; raises SyntaxError like Python would."""
    tree = ast.parse(source)
    return read_names(tree), assigned_names(tree)
