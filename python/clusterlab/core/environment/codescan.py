"""Which modules the code that is shipped imports, read from the code itself.

What the kernel has imported (``sys.modules``) says little about what a function needs
there: ``import toolz`` inside its body runs only on the cluster, and a kernel imports
its own machinery (traitlets, tornado, ...) that a function may use too. So the code
objects of what is shipped are read: the ``IMPORT_NAME`` instructions of the function
and of every code object nested in it (inner functions, lambdas, comprehensions, class
bodies), the modules of the objects its global names, closure and defaults refer to,
the classes and functions among them that travel by value (notebook code and the user's
own modules, read the same way, recursively), and the types of the arguments.

An import inside ``try: ... except ImportError`` (or ``contextlib.suppress``) is
*optional*: it is locked when installed here and never fails or warns when not. That is
read from the source (``ast``) when the source is there; without it every import counts
as required.

This module knows nothing about distributions (:mod:`.packages` maps modules to them) nor
about which modules travel by value (the caller passes ``by_value``, see
:mod:`clusterlab.core.transfer.localcode`): it only reads code.
"""

from __future__ import annotations

import ast
import contextlib
import dis
import functools
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_MAX_SCAN = 200  # container elements looked at per argument (arguments can be huge)
_MAX_DEPTH = 4  # objects followed from the shipped one
_CATCHES_IMPORT = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


@dataclass
class Needs:
    """Top-level module names the shipped code needs (``required``) or tries (``optional``:
    every import of it is guarded by an ImportError handler)."""

    required: set[str] = field(default_factory=set)
    optional: set[str] = field(default_factory=set)

    def add(self, modules: Iterable[Any], optional: Iterable[str] = ()) -> None:
        guarded = set(optional)
        for name in modules:
            if not isinstance(name, str):  # a C type's odd __module__: nothing to find
                continue
            top = name.split(".")[0]
            if not top or top in _IGNORED or top in _stdlib():
                continue
            (self.optional if top in guarded else self.required).add(top)
        self.optional -= self.required

    def all(self) -> set[str]:
        return self.required | self.optional


_TRY = (ast.Try, getattr(ast, "TryStar", ast.Try))  # try/except*: Python 3.11+
# clusterlab itself is never a package a job needs: what of it is shipped (the cell
# runner) travels by value, and the runner is copied into every job dir.
_IGNORED = {"__main__", "__future__", "builtins", "__mp_main__", "clusterlab"}


@functools.lru_cache(maxsize=1)
def _stdlib() -> frozenset[str]:
    return frozenset(getattr(sys, "stdlib_module_names", ()))


@functools.lru_cache(maxsize=4096)
def code_imports(code: types.CodeType) -> frozenset[str]:
    """Absolute module names imported by ``code`` and every code object nested in it
    (relative imports belong to the code's own package, found from its ``__module__``)."""
    names: set[str] = set()
    consts: list[Any] = [0, None]  # IMPORT_NAME follows LOAD_CONST level, LOAD_CONST fromlist
    for ins in dis.get_instructions(code):
        if ins.opname == "LOAD_CONST":
            consts = [consts[-1], ins.argval]
        elif ins.opname == "IMPORT_NAME":
            if consts[0] == 0 and isinstance(ins.argval, str):
                names.add(ins.argval)
            consts = [0, None]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= code_imports(const)
    return frozenset(names)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True  # a bare except catches it too
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in _CATCHES_IMPORT for k in kinds)


def _suppresses_import_error(item: ast.withitem) -> bool:
    call = item.context_expr
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "suppress" and any(
        isinstance(a, ast.Name) and a.id in _CATCHES_IMPORT for a in call.args
    )


def _imported(nodes: Iterable[ast.AST]) -> tuple[set[str], set[str]]:
    """(all absolute imports, those only ever under an ImportError guard) in ``nodes``."""
    every: set[str] = set()
    unguarded: set[str] = set()

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module] if node.module and not node.level else []
        else:
            names = []
        every.update(names)
        if not guarded:
            unguarded.update(names)
        if isinstance(node, _TRY):
            body_guarded = guarded or any(_catches_import_error(h) for h in node.handlers)
            for child in node.body:
                visit(child, body_guarded)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        if isinstance(node, ast.With) and any(_suppresses_import_error(i) for i in node.items):
            for child in node.body:
                visit(child, True)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    for node in nodes:
        visit(node, False)
    return every, every - unguarded


@functools.lru_cache(maxsize=1024)
def optional_imports(code: types.CodeType) -> frozenset[str]:
    """Modules that ``code``'s source imports only under an ImportError guard (empty when
    its source cannot be read: then every import counts as required)."""
    try:
        source = textwrap.dedent(inspect.getsource(code))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return frozenset()
    return frozenset(_imported([tree])[1])


class _Scan:
    def __init__(self, by_value: Callable[[str], bool]) -> None:
        self.by_value = by_value
        self.needs = Needs()
        self.seen: set[int] = set()
        self.modules_seen: set[str] = set()  # full names

    def travels(self, module: str | None) -> bool:
        """Code of this module is pickled by value (the notebook, the user's own files)."""
        return module in ("__main__", "__mp_main__") or self.by_value((module or "").split(".")[0])

    def module(self, name: str | None, depth: int) -> None:
        """A module the code refers to: needed, or, when it travels by value, the
        functions and classes defined in it are read (not its other imports: only what
        the shipped code reaches runs there)."""
        if not name or name in self.modules_seen:
            return
        self.modules_seen.add(name)
        if not self.travels(name):
            self.needs.add([name])
            return
        module = sys.modules.get(name)
        for value in list(vars(module).values()) if module is not None else ():
            if getattr(value, "__module__", None) == name:
                self.obj(value, depth + 1)

    def code(self, code: types.CodeType) -> None:
        self.needs.add(code_imports(code), optional_imports(code))

    def function(self, fn: types.FunctionType, depth: int) -> None:
        module = getattr(fn, "__module__", None)
        if not isinstance(module, str | None) or not self.travels(module):
            self.needs.add([module or ""])  # installed code: its distribution brings it
            return
        self.code(fn.__code__)
        globals_ = getattr(fn, "__globals__", {})
        for name in _code_names(fn.__code__):
            if name in globals_:
                self.obj(globals_[name], depth + 1)
        for cell in fn.__closure__ or ():
            with contextlib.suppress(ValueError):  # an empty cell
                self.obj(cell.cell_contents, depth + 1)
        for default in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
            self.obj(default, depth + 1)

    def klass(self, cls: type, depth: int) -> None:
        module = getattr(cls, "__module__", None)
        if not isinstance(module, str) or not self.travels(module):
            self.needs.add([module] if isinstance(module, str) else [])
            return
        for base in cls.__bases__:
            self.obj(base, depth + 1)
        for value in list(vars(cls).values()):
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            elif isinstance(value, property):
                value = value.fget
            if isinstance(value, types.FunctionType):
                self.function(value, depth)

    def obj(self, value: Any, depth: int = 0) -> None:
        if id(value) in self.seen or depth > _MAX_DEPTH:
            return
        self.seen.add(id(value))
        if isinstance(value, types.ModuleType):
            self.module(value.__name__, depth)
        elif isinstance(value, functools.partial):
            self.obj(value.func, depth)
            for item in (*value.args, *value.keywords.values()):
                self.obj(item, depth + 1)
        elif isinstance(value, types.MethodType):
            self.obj(value.__func__, depth)
            self.obj(value.__self__, depth + 1)
        elif isinstance(value, types.FunctionType):
            self.function(value, depth)
            wrapped = getattr(value, "__wrapped__", None)
            if wrapped is not None:
                self.obj(wrapped, depth)
        elif isinstance(value, type):
            self.klass(value, depth)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in list(value)[:_MAX_SCAN]:
                self.obj(item, depth + 1)
        elif isinstance(value, dict):
            for key, item in list(value.items())[:_MAX_SCAN]:
                self.obj(key, depth + 1)
                self.obj(item, depth + 1)
        else:
            self.obj(type(value), depth)


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def source_needs(source: str) -> Needs:
    """The modules a cell's source imports (a cell travels as text, run by the cell
    runner: its code objects do not exist here). Unparsable source needs nothing: the
    cell's own SyntaxError is what the user will see."""
    needs = Needs()
    try:
        every, optional = _imported([ast.parse(source)])
    except (SyntaxError, ValueError):
        return needs
    needs.add(every, optional)
    return needs


def needs_of(*objs: Any, by_value: Callable[[str], bool] = lambda name: False) -> Needs:
    """The modules that ``objs`` (a function, its arguments) need where they run.
    ``by_value(top)`` says whether a top-level module travels with the code (then its
    imports are read instead of it being needed)."""
    scan = _Scan(by_value)
    for obj in objs:
        scan.obj(obj)
    return scan.needs
