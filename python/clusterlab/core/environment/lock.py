"""The lock of ``environment="sync"`` and the wheels that build it, on this machine.

The lock is every distribution the functions this kernel sent import (read from their
code, :mod:`.codescan`) and every one the kernel has imported (its own machinery left out
unless shipped code imports it, see :data:`.packages.KERNEL_ONLY`), their requirements
(optional extras left out) and cloudpickle, each pinned to the version installed here;
local or editable projects are built as wheels (``pip wheel``) and pinned by their
content. Wheels come from this machine's cache, else ``pip download`` (the index
configured here), else they are repacked from the installed files (:func:`repack`: the
exact bits this kernel runs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ...common.errors import RemoteEnvironmentError
from ...config.paths import data_dir
from . import packages

_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_NEVER = {"pip", "setuptools", "wheel", "clusterlab"}


@dataclass
class Lock:
    """Pinned distributions (normalized name -> (name, version)), local projects' paths."""

    python: str  # "3.11"
    pins: dict[str, tuple[str, str]] = field(default_factory=dict)
    local: dict[str, str] = field(default_factory=dict)  # normalized name -> project dir
    local_wheels: dict[str, Path] = field(default_factory=dict)  # built here

    def text(self) -> str:
        lines = [f"# clusterlab sync lock, python {self.python}"]
        for key, (name, version) in sorted(self.pins.items()):
            extra = ""
            if key in self.local_wheels:
                digest = hashlib.sha256(self.local_wheels[key].read_bytes()).hexdigest()
                extra = f"  # local project, wheel sha256 {digest[:16]}"
            lines.append(f"{name}=={version}{extra}")
        return "\n".join(lines) + "\n"

    def digest(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()[:16]


def _local_project(dist: metadata.Distribution) -> str | None:
    """The directory of a distribution installed from a local dir (editable or not)."""
    try:
        info = json.loads(dist.read_text("direct_url.json") or "{}")
    except (ValueError, OSError):
        return None
    url = str(info.get("url", ""))
    if "dir_info" in info and url.startswith("file://"):
        return url[len("file://") :]
    return None


def make_lock() -> Lock:
    """This kernel's lock: what the shipped code and the kernel import, their
    requirements, cloudpickle."""
    lock = Lock(python=f"{sys.version_info[0]}.{sys.version_info[1]}")
    todo = [*packages.shipped_distributions(), *packages.imported_distributions(), "cloudpickle"]
    while todo:
        key = packages.normalize(todo.pop())
        if key in lock.pins or key in _NEVER:
            continue
        try:
            dist = metadata.distribution(key)
        except metadata.PackageNotFoundError:
            continue
        lock.pins[key] = (dist.metadata["Name"] or key, dist.version)
        project = _local_project(dist)
        if project:
            lock.local[key] = project
        for req in dist.requires or []:
            marker = req.partition(";")[2]
            if "extra" in marker:
                continue  # an optional extra: only when asked for
            match = _NAME_RE.match(req)
            if match:
                todo.append(match.group(1))
    return lock


def wheel_cache() -> Path:
    """This machine's wheelhouse (downloaded and built wheels, reused across envs)."""
    path = data_dir() / "wheelhouse"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def wheel_for(cache: Path, name: str, version: str) -> Path | None:
    """The wheel of ``name==version`` in ``cache`` that this interpreter can install: its
    tags are checked (the cache may also hold a cp311 wheel of the same version when this
    kernel runs 3.12), the most specific tag first, as pip would choose."""
    from packaging.tags import sys_tags
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
    from packaging.version import InvalidVersion, Version

    try:
        want = Version(version)
    except InvalidVersion:
        return None  # not a version pip could install either
    rank = {tag: i for i, tag in enumerate(sys_tags())}
    best: tuple[int, Path] | None = None
    for path in cache.glob("*.whl"):
        try:
            wname, wversion, _, tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if canonicalize_name(wname) != canonicalize_name(name) or wversion != want:
            continue
        score = min((rank[t] for t in tags if t in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, path)
    return best[1] if best else None


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )


def repack(name: str, cache: Path) -> Path | None:
    """A wheel of the *installed* distribution ``name``, from the files its RECORD lists
    under site-packages (the exact bits this kernel runs; no index needed). Files installed
    outside site-packages (scripts, data) are left out: pip recreates entry points."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    files = dist.files
    wheel_info = dist.read_text("WHEEL") or ""
    tags = [ln.split(":", 1)[1].strip() for ln in wheel_info.splitlines() if ln.startswith("Tag:")]
    if not files or not tags:
        return None
    stem = re.sub(r"[-_.]+", "_", dist.metadata["Name"] or name)
    parts = [list(dict.fromkeys(t.split("-")[i] for t in tags)) for i in range(3)]
    tag = "-".join(".".join(p) for p in parts)  # py2.py3-none-any: every tag it declares
    target = cache / f"{stem}-{dist.version}-{tag}.whl"
    if target.exists():
        return target
    record: list[str] = []
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            path = Path(str(dist.locate_file(rel)))
            text = str(rel).replace(os.sep, "/")
            if text.startswith("..") or "__pycache__" in text or text.endswith("/RECORD"):
                continue
            if text.endswith(("INSTALLER", "REQUESTED", "direct_url.json")) or not path.is_file():
                continue
            data = path.read_bytes()
            zf.writestr(text, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{text},sha256={digest.decode()},{len(data)}")
        dist_info = next((str(f).split("/")[0] for f in files if str(f).endswith("METADATA")), "")
        record.append(f"{dist_info}/RECORD,,")
        zf.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    tmp.replace(target)
    return target


def build_wheels(lock: Lock, download: bool) -> dict[str, Path]:
    """Wheels here for the lock: local projects always (``pip wheel``), everything else
    too when ``download``: from the cache, else ``pip download`` (the index configured
    here), else repacked from the installed files (:func:`repack`)."""
    cache = wheel_cache()
    found: dict[str, Path] = {}
    for key, project in lock.local.items():
        res = _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(cache), project)
        name, version = lock.pins[key]
        wheel = wheel_for(cache, name, version)
        if res.returncode != 0 or wheel is None:
            raise RemoteEnvironmentError(
                f"could not build a wheel of the local project {name} ({project}) for "
                f"environment='sync': {res.stderr.strip()[-400:]}"
            )
        lock.local_wheels[key] = found[key] = wheel
    if download:
        missing = [
            f"{n}=={v}"
            for k, (n, v) in lock.pins.items()
            if k not in found and wheel_for(cache, n, v) is None
        ]
        if missing:  # one pip run for all; what it cannot get is repacked below
            _pip("download", "--no-deps", "--only-binary=:all:", "-d", str(cache), *missing)
        for key, (name, version) in lock.pins.items():
            wheel = wheel_for(cache, name, version) or repack(name, cache)
            if wheel is None:
                raise RemoteEnvironmentError(
                    f"no wheel of {name}=={version} for environment='sync': pip could not "
                    "download it and its installed files cannot be repacked. Install it on "
                    "the cluster and use environment='existing'."
                )
            found[key] = wheel
    return found


def platform_tags(platform: str) -> list[str]:
    """pip's ``--platform`` values for a ``sysconfig.get_platform()`` string of another
    machine: manylinux tags newest first for Linux, the string itself (``_`` for ``-``
    and ``.``) otherwise. Pure wheels (``none-any``) are taken whatever the platform."""
    plain = re.sub(r"[-.]", "_", platform)
    if platform.startswith("linux-"):
        arch = platform[len("linux-") :].replace("-", "_")
        tags = [f"manylinux_2_{minor}_{arch}" for minor in range(39, 16, -1)]
        return [*tags, f"manylinux2014_{arch}", f"linux_{arch}"]
    return [plain]


def platform_cache(platform: str) -> Path:
    """Wheels for another machine's platform: a folder of the wheelhouse of its own (what
    pip download fetched for it, and what you put there by hand)."""
    path = wheel_cache() / "platforms" / re.sub(r"[^A-Za-z0-9_.-]", "_", platform)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def wheels_for_platform(lock: Lock, platform: str) -> tuple[dict[str, Path], list[str]]:
    """Wheels for a cluster of another platform: local projects built here (pure ones
    install anywhere), the rest from :func:`platform_cache`, else ``pip download
    --platform`` with the index configured here. Returns (wheels, pins with none)."""
    found = {k: w for k, w in build_wheels(lock, download=False).items()}
    cache = platform_cache(platform)

    def have(name: str, version: str) -> Path | None:
        from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
        from packaging.version import InvalidVersion, Version

        try:
            want = Version(version)
        except InvalidVersion:
            return None
        for path in sorted(cache.glob("*.whl")):
            try:
                wname, wversion, _, _ = parse_wheel_filename(path.name)
            except InvalidWheelFilename:
                continue
            if canonicalize_name(wname) == canonicalize_name(name) and wversion == want:
                return path
        return None

    missing = [f"{n}=={v}" for k, (n, v) in lock.pins.items() if k not in found and not have(n, v)]
    if missing:  # one pip run for all, for the cluster's platform and Python
        plat = [arg for tag in platform_tags(platform) for arg in ("--platform", tag)]
        _pip(
            "download", "--no-deps", "--only-binary=:all:", *plat,
            "--python-version", lock.python, "--implementation", "cp",
            "-d", str(cache), *missing,
        )  # fmt: skip
    lacking = []
    for key, (name, version) in lock.pins.items():
        if key in found:
            continue
        wheel = have(name, version)
        if wheel is None:
            lacking.append(f"{name}=={version}")
        else:
            found[key] = wheel
    return found, lacking
