"""Which installed distributions the kernel's code uses, and what the cluster lacks.

The kernel's imported top-level modules (``sys.modules``) are mapped to distributions with
``importlib.metadata.packages_distributions``; the cluster answers with its installed
distributions in the probe's round trip (:mod:`.remote`). Only what this kernel has
*imported* is compared (plus, for a sync lock, their requirements): a full environment
is large and mostly irrelevant to the functions sent.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

# The kernel's own machinery and clusterlab's: imported here, never by a job's function.
KERNEL_ONLY = {
    "clusterlab", "ipykernel", "ipython", "jupyter-client", "jupyter-core", "pyzmq",
    "tornado", "traitlets", "comm", "debugpy", "ipywidgets", "widgetsnbextension",
    "jupyterlab-widgets", "prompt-toolkit", "jedi", "parso", "matplotlib-inline", "pexpect",
    "ptyprocess", "executing", "asttokens", "stack-data", "pure-eval", "pygments",
    "decorator", "nest-asyncio", "wcwidth", "paramiko", "bcrypt", "cryptography", "cffi",
    "pycparser", "pynacl", "invoke", "ipython-pygments-lexers", "pytest", "pluggy",
    "iniconfig", "_pytest", "platformdirs", "tomli-w", "tomli",
}  # fmt: skip


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_distributions() -> dict[str, tuple[str, str]]:
    """``normalized name -> (name, version)`` of every distribution whose top-level
    modules this process has imported (the stdlib and the kernel's machinery left out)."""
    try:
        owners = metadata.packages_distributions()
    except Exception:
        return {}
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    out: dict[str, tuple[str, str]] = {}
    for module in list(sys.modules):
        if "." in module or module in stdlib or module.startswith("_"):
            continue
        for dist in owners.get(module, ()):
            key = normalize(dist)
            if key in out or key in KERNEL_ONLY:
                continue
            try:
                out[key] = (dist, metadata.version(dist))
            except metadata.PackageNotFoundError:
                continue
    return out


def diff(remote: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(package, version here, version there or 'missing')`` for each imported
    distribution the cluster lacks or has at another version, sorted by name."""
    rows = []
    for key, (name, here) in sorted(imported_distributions().items()):
        there = remote.get(key)
        if there != here:
            rows.append((name, here, there or "missing"))
    return rows


def table(rows: list[tuple[str, str, str]]) -> str:
    """The rows as a small fixed-width table (package, here, there)."""
    head = ("package", "here", "there")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    )


_MISSING_RE = re.compile(r"No module named '([\w.]+)'")


def missing_module_hint(message: str) -> str:
    """For a job that failed on a missing module: which package to install and how, as a
    sentence ('' when the message names no missing module)."""
    match = _MISSING_RE.search(message)
    if not match:
        return ""
    module = match.group(1)
    top = module.split(".")[0]
    try:
        dists = metadata.packages_distributions().get(top, [])
    except Exception:
        dists = []
    if dists:
        dist = dists[0]
        try:
            pin = f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            pin = dist
        return (
            f"The cluster's Python lacks {top!r} (the distribution {pin} here): install it "
            f"there with `python -m pip install --user {pin}` (with the Python the profile "
            "uses), or submit with environment='sync' to get this kernel's packages there "
            "(a sync environment holds what this kernel has imported: import it here first)."
        )
    local = sys.modules.get(top)
    if local is not None and getattr(local, "__file__", None):
        return (
            f"{top!r} is a module of your own ({local.__file__}) that the function imports "
            "inside its body: import it at the top of the notebook (then it travels with the "
            "function), or put it on the cluster."
        )
    return (
        f"The cluster's Python lacks {top!r}, which this kernel does not have either: "
        "install it there (python -m pip install --user ...), or fix the import."
    )
