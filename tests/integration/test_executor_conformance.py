"""``cl.Executor`` is a drop-in ``concurrent.futures.Executor``: CPython's own tests say so.

The ``ExecutorTest``, ``WaitTests`` and ``AsCompletedTests`` mixins of CPython's
``test_concurrent_futures`` are loaded at test time from the interpreter's test suite
(Debian's ``libpython3.X-testsuite``, installed by tests/cluster/sandbox.py), not copied,
and run against an Executor on the built-in ``local`` profile and on the real SLURM
sandbox. Their functions travel by value (``cloudpickle.register_pickle_by_value``), so
the cluster side needs no test suite of its own.
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
import unittest
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import cloudpickle
import pytest

import clusterlab as cl
from tests.conftest import slurm_local_profile


def _cpython_suite() -> ModuleType | None:
    """CPython's test_concurrent_futures (a file up to 3.11, a package from 3.12)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    roots = [Path(sysconfig.get_path("stdlib")) / "test", Path(f"/usr/lib/python{version}/test")]
    for root in roots:
        single = root / "test_concurrent_futures.py"
        if single.is_file():
            return _load("clusterlab_cpython_cf", single)
        package = root / "test_concurrent_futures" / "__init__.py"
        if package.is_file():  # 3.12+: the mixins live in submodules
            ns = ModuleType("clusterlab_cpython_cf")
            for sub, names in {
                "executor": ["ExecutorTest"],
                "test_wait": ["WaitTests"],
                "test_as_completed": ["AsCompletedTests"],
                "util": ["ExecutorMixin", "BaseTestCase"],
            }.items():
                mod = importlib.import_module(f"test.test_concurrent_futures.{sub}")
                cloudpickle.register_pickle_by_value(mod)
                for name in names:
                    setattr(ns, name, getattr(mod, name))
            return ns
    return None


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # cloudpickle pickles by value a module it can find
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)
    return module


cf = _cpython_suite()
if cf is None:
    pytest.skip(
        "CPython's test suite is not installed (Debian: apt-get install "
        f"libpython{sys.version_info.major}.{sys.version_info.minor}-testsuite; "
        "`make test` does this)",
        allow_module_level=True,
    )
assert cf is not None


class _OnLocal(cf.ExecutorMixin):  # type: ignore[name-defined,misc]
    """The mixins build ``self.executor_type(max_workers=5)``: here a cluster Executor."""

    profile: Any = "local"

    def executor_type(self, max_workers: int | None = None, **kwargs: Any) -> cl.Executor:
        return cl.Executor(self.profile, max_workers=max_workers, **kwargs)


class _OnSlurm(_OnLocal):
    @pytest.fixture(autouse=True)
    def _slurm(self, sandbox: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        type(self).profile = slurm_local_profile(tmp_path_factory.getbasetemp(), "cfslurm")
        yield


class TestLocalExecutor(_OnLocal, cf.ExecutorTest, cf.BaseTestCase):  # type: ignore[name-defined,misc]
    pass


class TestLocalWait(_OnLocal, cf.WaitTests, cf.BaseTestCase):  # type: ignore[name-defined,misc]
    pass


class TestLocalAsCompleted(_OnLocal, cf.AsCompletedTests, cf.BaseTestCase):  # type: ignore[name-defined,misc]
    pass


class TestSlurmExecutor(_OnSlurm, cf.ExecutorTest, cf.BaseTestCase):  # type: ignore[name-defined,misc]
    pass


class TestSlurmWait(_OnSlurm, cf.WaitTests, cf.BaseTestCase):  # type: ignore[name-defined,misc]
    pass


class TestSlurmAsCompleted(_OnSlurm, cf.AsCompletedTests, cf.BaseTestCase):  # type: ignore[name-defined,misc]
    pass


def test_the_suite_is_cpythons() -> None:
    """Guard: the classes above really carry CPython's tests (21 in 3.11), not an empty
    shell that would pass by running nothing."""
    loader = unittest.TestLoader()
    names = [
        n
        for cls in (TestLocalExecutor, TestLocalWait, TestLocalAsCompleted)
        for n in loader.getTestCaseNames(cls)
    ]
    assert "test_free_reference" in names and "test_first_completed" in names
    assert len(names) >= 20
