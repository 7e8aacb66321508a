"""The ``clusterlab`` names a function may use on the cluster, where the cluster's Python
has only cloudpickle.

A function that says ``cl.checkpoint.save(...)`` is shipped by value, but ``cl`` (the
module) travels by reference: unpickling it imports ``clusterlab``. Where clusterlab is
installed (the local backend, a cluster with it) the real package answers. Where it is
not, the runner calls :func:`install` before it loads the function: a small module named
``clusterlab`` is put into ``sys.modules`` whose attributes are the runner-side modules
shipped beside the runner (stdlib only) and the names other runner parts give it. Each
entry of :data:`PROVIDED` is one module of the public API and the file beside the runner
that implements it (``cl.checkpoint``); ``names`` are single objects of a runner part the
runner has loaded already (``cl.task()`` and ``cl.TaskInfo`` from ``runner_tasks.py``).
This is the one stand-in: the launcher, each rank and an ordinary job all get it here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from collections.abc import Mapping
from typing import Any

PROVIDED = {"checkpoint": "checkpoint.py"}
"""Public name -> the runner-side file (beside the runner) that provides it."""

PACKAGE = "clusterlab"


def needed() -> bool:
    """True when this Python cannot import clusterlab itself (looked up, not imported:
    the real package is heavy and most functions never name it)."""
    if PACKAGE in sys.modules:
        return False
    try:
        return importlib.util.find_spec(PACKAGE) is None
    except (ImportError, ValueError):
        return True


def _load(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _stand_in() -> types.ModuleType | None:
    """A ``clusterlab`` another runner part already put into ``sys.modules`` (a module
    with no file: not the real package), to which these names are added."""
    module = sys.modules.get(PACKAGE)
    if module is not None and getattr(module, "__file__", None) is None:
        return module
    return None


def install(runner_dir: str, names: Mapping[str, Any] | None = None) -> types.ModuleType | None:
    """Make ``import clusterlab`` give the runner-side names (:data:`PROVIDED`'s modules
    and ``names``); None when the real package is there (then it is used, and reads the
    same variables). A stand-in already in ``sys.modules`` gets the names too, so a
    second call adds to the first. A class among ``names`` is renamed into ``clusterlab``:
    pickled by reference there, it unpickles in the kernel as the real package's class."""
    package = _stand_in()
    if package is None:
        if not needed():
            return None
        package = types.ModuleType(PACKAGE, "clusterlab's names for a function on a cluster")
    if not hasattr(package, "__path__"):
        package.__path__ = []  # a package: 'clusterlab.checkpoint' is importable too
    remote = sys.modules.get(f"{PACKAGE}.remote") or types.ModuleType(f"{PACKAGE}.remote")
    remote.__path__ = []
    sys.modules[PACKAGE] = package
    sys.modules[f"{PACKAGE}.remote"] = remote
    package.remote = remote  # type: ignore[attr-defined]
    for name, filename in PROVIDED.items():
        # The module's name is where the kernel's copy lives (clusterlab.remote.NAME), so
        # a function that names it directly (from clusterlab.remote.checkpoint import save)
        # unpickles too; 'clusterlab.NAME' is the same object.
        module = _load(f"{PACKAGE}.remote.{name}", os.path.join(runner_dir, filename))
        sys.modules[f"{PACKAGE}.{name}"] = module
        setattr(package, name, module)
        setattr(remote, name, module)
    for name, value in (names or {}).items():
        if isinstance(value, type):
            value.__module__ = PACKAGE
        setattr(package, name, value)
    return package
