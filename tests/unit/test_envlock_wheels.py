"""Which cached wheel env sync uploads for a pin (core/envlock.py): one this interpreter
can install, chosen by its tags, not by its name's prefix."""

from __future__ import annotations

import sys
from pathlib import Path

from clusterlab.core.environment.lock import wheel_for

OTHER = "cp311" if sys.version_info[:2] != (3, 11) else "cp312"
THIS = f"cp{sys.version_info[0]}{sys.version_info[1]}"


def _touch(cache: Path, name: str) -> Path:
    path = cache / name
    path.write_bytes(b"")
    return path


def test_a_wheel_for_another_python_is_not_taken(tmp_path: Path) -> None:
    """The cache held demo's wheel for another CPython (first by name) and a pure one:
    the other Python's wheel was uploaded and the install on the cluster failed."""
    _touch(tmp_path, f"demo_pkg-1.0-{OTHER}-{OTHER}-manylinux_2_17_x86_64.whl")
    pure = _touch(tmp_path, "demo_pkg-1.0-py3-none-any.whl")
    assert wheel_for(tmp_path, "demo-pkg", "1.0") == pure


def test_only_wheels_of_other_pythons_means_none(tmp_path: Path) -> None:
    _touch(tmp_path, f"demo_pkg-1.0-{OTHER}-{OTHER}-manylinux_2_17_x86_64.whl")
    assert wheel_for(tmp_path, "demo-pkg", "1.0") is None  # then: pip download, or repack


def test_the_most_specific_compatible_wheel_wins(tmp_path: Path) -> None:
    import sysconfig

    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    _touch(tmp_path, "demo_pkg-1.0-py3-none-any.whl")
    native = _touch(tmp_path, f"demo_pkg-1.0-{THIS}-{THIS}-{plat}.whl")
    _touch(tmp_path, "demo_pkg-1.01-py3-none-any.whl")  # another version (1.1 != 1.0)
    _touch(tmp_path, "demo_pkg_extra-1.0-py3-none-any.whl")  # another name, same prefix
    assert wheel_for(tmp_path, "Demo.Pkg", "1.0") == native
