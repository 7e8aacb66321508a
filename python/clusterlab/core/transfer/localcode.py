"""Local code travels: modules of the user's project go with the function, by value.

A function defined in the notebook is pickled by value already; a function *imported*
from ``mymod.py`` next to the notebook is pickled as a reference ("mymod.f"), which the
cluster cannot resolve (ModuleNotFoundError). At dump time we find the modules that the
function (its globals, closure, defaults) and its arguments use, keep those whose files
live outside the standard library and every site-packages (the user's own code), follow
them recursively within the project, and register them with
``cloudpickle.register_pickle_by_value`` for the duration of the dump only.

Installed distributions (site-packages, including clusterlab itself) are never shipped:
the cluster must have them (``cl.profiles.check`` lists what it lacks). An ``import
mymod`` *inside* a function body runs on the cluster and is not covered: import local
modules at the notebook's top level (or in the module the function lives in).
"""

from __future__ import annotations

import contextlib
import functools
import os
import site
import sys
import sysconfig
import threading
import types
from collections.abc import Iterator
from typing import Any

import cloudpickle

_lock = threading.Lock()
_verdicts: dict[str, bool] = {}
_MAX_SCAN = 200  # container elements looked at per container (arguments can be huge)


@functools.lru_cache(maxsize=1)
def _installed_roots() -> tuple[str, ...]:
    """Directories whose modules are installed, not the user's: the stdlib, every
    site-packages, the interpreter's prefixes, and clusterlab itself."""
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            roots.add(sysconfig.get_paths()[key])
    with contextlib.suppress(Exception):
        roots.update(site.getsitepackages())
    with contextlib.suppress(Exception):
        roots.add(site.getusersitepackages())
    roots.update({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    package = os.path.abspath(__file__)
    for _ in range(__name__.count(".")):  # clusterlab/core/transfer/localcode.py -> clusterlab
        package = os.path.dirname(package)
    roots.add(package)
    return tuple(os.path.realpath(r) + os.sep for r in roots if r)


def is_local(name: str) -> bool:
    """True for a module of the user's own code (a file outside installed locations)."""
    if name in _verdicts:
        return _verdicts[name]
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    verdict = False
    if module is not None and path and name != "__main__":
        real = os.path.realpath(path)
        parts = real.split(os.sep)
        verdict = (
            "site-packages" not in parts
            and "dist-packages" not in parts
            and not real.startswith(_installed_roots())
        )
    _verdicts[name] = verdict
    return verdict


def _top_local(name: str) -> str | None:
    """The outermost local package of ``name`` (registering it covers its submodules)."""
    if not name or not is_local(name):
        return None
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        candidate = ".".join(parts[:i])
        if is_local(candidate):
            return candidate
    return name


def _code_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


class _Scan:
    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.seen: set[int] = set()

    def module_of(self, name: str | None) -> None:
        top = _top_local(name or "")
        if top and top not in self.modules:
            self.modules.add(top)
            for mod_name, mod in list(sys.modules.items()):  # follow it within the project
                if mod is not None and (mod_name == top or mod_name.startswith(top + ".")):
                    for value in list(vars(mod).values()):
                        self.obj(value, depth=1)

    def obj(self, value: Any, depth: int = 0) -> None:
        if id(value) in self.seen or depth > 3:
            return
        self.seen.add(id(value))
        if isinstance(value, types.ModuleType):
            self.module_of(value.__name__)
        elif isinstance(value, functools.partial):
            self.obj(value.func, depth)
            for item in (*value.args, *value.keywords.values()):
                self.obj(item, depth + 1)
        elif isinstance(value, types.FunctionType | types.MethodType):
            fn: Any = getattr(value, "__func__", value)
            self.module_of(getattr(fn, "__module__", None))
            globals_ = getattr(fn, "__globals__", {})
            for name in set(_code_names(fn.__code__)):
                if name in globals_:
                    self.obj(globals_[name], depth + 1)
            for cell in fn.__closure__ or ():
                with contextlib.suppress(ValueError):  # an empty cell
                    self.obj(cell.cell_contents, depth + 1)
            for default in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
                self.obj(default, depth + 1)
            wrapped = getattr(fn, "__wrapped__", None)
            if wrapped is not None:
                self.obj(wrapped, depth)
        elif isinstance(value, type):
            self.module_of(value.__module__)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in list(value)[:_MAX_SCAN]:
                self.obj(item, depth + 1)
        elif isinstance(value, dict):
            for item in list(value.values())[:_MAX_SCAN]:
                self.obj(item, depth + 1)
        else:
            self.module_of(type(value).__module__)


def local_modules(*objs: Any) -> set[str]:
    """The top-level local modules that ``objs`` use (see the module doc)."""
    scan = _Scan()
    for obj in objs:
        scan.obj(obj)
    return scan.modules


@contextlib.contextmanager
def shipped_by_value(*objs: Any) -> Iterator[set[str]]:
    """While inside, cloudpickle pickles the local modules ``objs`` use by value."""
    names = local_modules(*objs)
    with _lock:  # cloudpickle's registry is global: one dump registers at a time
        added = []
        already = cloudpickle.list_registry_pickle_by_value()
        for name in sorted(names):
            module = sys.modules.get(name)
            if module is None or name in already:
                continue  # registered by the user already: theirs, left registered after
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:
                continue
            added.append(module)
        try:
            yield names
        finally:
            for module in added:
                with contextlib.suppress(ValueError):
                    cloudpickle.unregister_pickle_by_value(module)
