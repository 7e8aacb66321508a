"""A container image for the tests, built offline (no registry): a root filesystem holding
this interpreter (its prefix, the stdlib without tests/GUI, the shared libraries it and its
extension modules load) and cloudpickle, `podman import`ed as ``IMAGE``.

The machine's quirks (a nested container: cgroup v1 that crun refuses, a hard open-files
limit under podman's default) go in a containers.conf the tests point ``CONTAINERS_CONF``
at, not into clusterlab's command lines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import cloudpickle

IMAGE = "localhost/clusterlab-test-python:" + ".".join(map(str, sys.version_info[:3])) + "-2"
MARKER = "/etc/clusterlab-test-image"
_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3"}


def containers_conf(path: Path) -> Path:
    """A containers.conf for this machine (runc with cgroupfs, the host's cgroup ns and
    its open-files and process limits): what an admin sets once, outside clusterlab."""
    import resource

    limits = {
        name: resource.getrlimit(getattr(resource, f"RLIMIT_{name.upper()}"))
        for name in ("nofile", "nproc")
    }
    limits["nproc"] = (min(limits["nproc"][0], 4096),) * 2  # (the host's own value: EPERM)
    ulimits = ", ".join(f'"{n}={s}:{h}"' for n, (s, h) in limits.items())
    path.write_text(
        "[containers]\n"
        'cgroupns = "host"\n'
        f"default_ulimits = [{ulimits}]\n"
        'volumes = ["/sys/fs/cgroup:/sys/fs/cgroup:ro"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
    )
    return path


def _libraries(files: list[Path]) -> set[str]:
    out = subprocess.run(["ldd", *map(str, files)], capture_output=True, text=True).stdout
    return {w for w in out.split() if w.startswith("/") and not w.endswith(":")}


def build(work: Path) -> str:
    """Import the image unless podman has it already; returns its name."""
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode == 0:
        return IMAGE
    prefix = Path(sys.base_prefix)
    stdlib = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    exe = Path(os.path.realpath(sys._base_executable))  # type: ignore[attr-defined]
    root = work / "rootfs"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(
        stdlib,
        root / stdlib.relative_to("/"),
        ignore=lambda d, names: [n for n in names if n in _SKIP or n == "__pycache__"],
    )
    for lib in prefix.joinpath("lib").glob("libpython*.so*"):
        (root / lib.parent.relative_to("/")).mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, root / lib.relative_to("/"))
    (root / exe.parent.relative_to("/")).mkdir(parents=True, exist_ok=True)
    shutil.copy2(exe, root / exe.relative_to("/"))
    loaded = [exe, *stdlib.joinpath("lib-dynload").glob("*.so")]
    for lib in _libraries(loaded):
        if not lib.startswith(str(prefix)):
            target = root / lib.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(lib), target)
    site = root / stdlib.relative_to("/") / "site-packages"
    shutil.copytree(Path(cloudpickle.__file__).parent, site / "cloudpickle")
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    (root / "usr/bin/python3").symlink_to(exe)
    (root / "tmp").mkdir(mode=0o1777)
    (root / "etc").mkdir(exist_ok=True)
    (root / MARKER.lstrip("/")).write_text(IMAGE + "\n")  # what a job reads to know where it ran
    tar = work / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        for child in root.iterdir():
            tf.add(child, arcname=child.name)
    subprocess.run(
        ["podman", "import", "--change", "ENV=PATH=/usr/bin:/bin", str(tar), IMAGE],
        check=True,
        capture_output=True,
    )
    return IMAGE


NO_PYTHON = "localhost/clusterlab-test-nopython:1"


def build_without_python(work: Path) -> str:
    """An image with no Python at all (one marker file), for the sentence a job gets when
    the image cannot run the profile's python; returns its name."""
    if subprocess.run(["podman", "image", "exists", NO_PYTHON]).returncode == 0:
        return NO_PYTHON
    root = work / "nopython"
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / MARKER.lstrip("/")).write_text(NO_PYTHON + "\n")
    tar = work / "nopython.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(root / "etc", arcname="etc")
    subprocess.run(["podman", "import", str(tar), NO_PYTHON], check=True, capture_output=True)
    return NO_PYTHON
