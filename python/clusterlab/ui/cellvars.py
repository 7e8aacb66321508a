"""Which names a notebook cell reads, binds and deletes, found by static analysis.

``%%cluster`` ships the names a cell reads and brings back the names it binds, so the cell
behaves as if it ran in the notebook. A name counts as bound when the cell's own (module)
scope binds it anywhere, at any block depth: assignments of every kind, ``for``/``with``
targets, walrus (also inside comprehensions, which bind it in the cell), imports, ``def``
and ``class`` names, ``match`` captures, and names a function declares ``global``. Bodies
of functions, classes and lambdas, and comprehension variables, have scopes of their own.
``except ... as e`` does not count: Python unbinds ``e`` when the handler ends.
"""

from __future__ import annotations

import ast
import builtins
from typing import NamedTuple

_BUILTINS = frozenset(dir(builtins))
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class CellNames(NamedTuple):
    """What a cell does with names, each list in order of first appearance."""

    reads: list[str]  # loaded (or deleted: ``del x`` needs x), not builtins: shipped
    writes: list[str]  # bound in the cell's scope: brought back when they exist at the end
    deletes: list[str]  # ``del x`` in the cell's scope: deleted in the notebook if gone


class _Scope(ast.NodeVisitor):
    """Walks the cell's own scope, stepping into nested scopes only for what they evaluate
    in the cell (decorators, defaults, base classes, a comprehension's walrus)."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.deletes: list[str] = []

    def _bind(self, name: str | None) -> None:
        if name and name not in self.writes:
            self.writes.append(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self._bind(node.id)
        elif isinstance(node.ctx, ast.Del) and node.id not in self.deletes:
            self.deletes.append(node.id)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:  # `x: int` alone binds nothing
            self.visit(node.target)
            self.visit(node.value)
        self.visit(node.annotation)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:  # `import a.b` binds a; `from m import *` is unknowable
            if alias.name != "*":
                self._bind(alias.asname or alias.name.split(".")[0])

    visit_ImportFrom = visit_Import

    def _signature(self, args: ast.arguments) -> None:
        """What a ``def`` or ``lambda`` line evaluates in the cell: defaults, annotations."""
        for expr in [*args.defaults, *args.kw_defaults]:
            if expr is not None:
                self.visit(expr)
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        for arg in every:
            if arg is not None and arg.annotation is not None:
                self.visit(arg.annotation)

    def _globals_in(self, body: list[ast.stmt]) -> None:
        """``global x`` inside a function binds x in the cell when the function runs."""
        for stmt in body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Global):
                    for name in node.names:
                        self._bind(name)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in node.decorator_list:
            self.visit(expr)
        self._signature(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self._bind(node.name)
        self._globals_in(node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        self._bind(node.name)
        self._globals_in(node.body)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._signature(node.args)  # the body is the lambda's own scope

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:  # node.name is unbound again when the handler ends
            self.visit(node.type)
        for stmt in node.body:
            self.visit(stmt)

    def _comprehension(self, node: ast.AST) -> None:
        """Its loop variables are its own; a walrus in it binds in the cell (PEP 572)."""
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.comprehension):
                for expr in [child.iter, *child.ifs]:
                    self.visit(expr)
            else:
                self.visit(child)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_MatchAs(self, node: ast.MatchAs) -> None:  # case [a, *b], {**c}, P(x) as d
        self.generic_visit(node)
        self._bind(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        self._bind(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.generic_visit(node)
        self._bind(node.rest)


def assigned_names(tree: ast.Module) -> list[str]:
    """Names the cell binds in its own scope (see the module docstring for what counts)."""
    scope = _Scope()
    scope.visit(tree)
    return scope.writes


def read_names(tree: ast.Module) -> list[str]:
    """Names the cell loads that are not builtins (candidates to ship from the namespace)."""
    out: list[str] = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            name = node.target.id  # `total += i` reads total first
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load | ast.Del):
            name = node.id  # `del x` needs x to exist where the cell runs
        if name and name not in _BUILTINS and name not in out:
            out.append(name)
    return out


def analyze(source: str) -> CellNames:
    """What a cell's source reads, binds and deletes; raises SyntaxError like Python would."""
    tree = ast.parse(source)
    scope = _Scope()
    scope.visit(tree)
    return CellNames(read_names(tree), scope.writes, scope.deletes)
