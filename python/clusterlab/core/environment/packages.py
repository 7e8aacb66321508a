"""Which installed distributions the shipped code and the kernel use, and what the cluster
lacks.

Two sources, kept apart because they mean different things:

- *needed by the functions this kernel sent*: the modules read from the code of every
  function, cell and argument submitted (:mod:`.codescan`), recorded at each submission
  by :func:`note_shipped`. Nothing is left out: a function that imports traitlets gets
  traitlets, although the kernel's machinery uses it too.
- *imported by the kernel*: its top-level modules (``sys.modules``), the kernel's own
  machinery (:data:`KERNEL_ONLY`) left out, since a job rarely needs it and it is large.

Modules map to distributions with ``importlib.metadata.packages_distributions``; the
cluster answers with its installed distributions in the probe's round trip
(:mod:`.remote`). A required module that maps to no distribution (and is neither stdlib
nor code that travels by value) is named in a warning once: the cluster must have it some
other way.
"""

from __future__ import annotations

import re
import sys
import threading
import warnings
from importlib import metadata

from .codescan import Needs

# The kernel's own machinery and clusterlab's: left out of what the kernel imported (a job
# rarely needs them), never out of what the shipped code imports.
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


_owners_cache: dict[str, list[str]] | None = None
_owners_missed: set[str] = set()  # modules looked up in vain since the last read


def _owners(modules: set[str]) -> dict[str, list[str]]:
    """``packages_distributions()`` (about 0.1 s: it reads every installed RECORD), read
    once and again only when a module not looked up in vain before is missing from it
    (a package installed during the session)."""
    global _owners_cache
    if _owners_cache is not None and not (modules - _owners_cache.keys() - _owners_missed):
        return _owners_cache
    try:
        _owners_cache = dict(metadata.packages_distributions())
    except Exception as exc:  # a broken installed metadata file: say so, lock the rest
        warnings.warn(f"clusterlab: cannot map modules to distributions: {exc}", stacklevel=3)
        return {}
    _owners_missed.clear()
    _owners_missed.update(modules - _owners_cache.keys())
    return _owners_cache


def distributions_of(modules: set[str] | list[str]) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """``(normalized name -> (name, version), modules that map to no distribution)`` for
    top-level module names (the stdlib and private names skipped)."""
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    wanted = {m for m in modules if m not in stdlib and not m.startswith("_")}
    owners = _owners(wanted)
    found: dict[str, tuple[str, str]] = {}
    unmapped: set[str] = set()
    for module in wanted:
        dists = owners.get(module, ())
        if not dists:
            unmapped.add(module)
        for dist in dists:
            key = normalize(dist)
            if key in found:
                continue
            try:
                found[key] = (dist, metadata.version(dist))
            except metadata.PackageNotFoundError:
                continue
    return found, unmapped


def imported_distributions() -> dict[str, tuple[str, str]]:
    """``normalized name -> (name, version)`` of every distribution whose top-level
    modules this process has imported (the stdlib and the kernel's machinery left out)."""
    found, _ = distributions_of([m for m in list(sys.modules) if "." not in m])
    return {k: v for k, v in found.items() if k not in KERNEL_ONLY}


# What the functions this kernel sent need: normalized name -> (name, version), and the
# modules already warned about (once per kernel).
_shipped: dict[str, tuple[str, str]] = {}
_warned: set[str] = set()
_modules_noted: set[str] = set()
_shipped_lock = threading.Lock()


def note_shipped(needs: Needs, what: str) -> set[str]:
    """Record the distributions that shipped code (``what``: its name, for the warning)
    needs; warn once about a required module no installed distribution provides. Returns
    the normalized names it added (empty when nothing new: the lock stays as it was)."""
    with _shipped_lock:
        new = needs.all() - _modules_noted
        _modules_noted.update(new)
    if not new:  # the usual case: the same function again (no lookup at all)
        return set()
    found, unmapped = distributions_of(new)
    with _shipped_lock:
        added = {k for k in found if k not in _shipped}
        _shipped.update(found)
        unknown = sorted((unmapped & needs.required) - _warned)  # optional ones: silent
        _warned.update(unknown)
    if unknown:
        warnings.warn(
            f"clusterlab: {what} imports {', '.join(map(repr, unknown))}, which no "
            "distribution installed here provides, so environment='sync' cannot bring "
            "it and the package checks cannot see it: the cluster must have it (install "
            "it there), or import it at the notebook's top level if it is a module of "
            "your own (then it travels with the function).",
            stacklevel=2,
        )
    return added


def shipped_distributions() -> dict[str, tuple[str, str]]:
    """What the functions this kernel sent need (see :func:`note_shipped`)."""
    with _shipped_lock:
        return dict(_shipped)


def diff(remote: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """``(package, version here, version there or 'missing', why)`` for each distribution
    the cluster lacks or has at another version; ``why`` is ``"sent"`` (needed by the
    functions this kernel sent) or ``"imported"`` (imported by the kernel only). Sorted:
    the sent ones first, then by name."""
    sent = shipped_distributions()
    imported = imported_distributions()
    rows = []
    for why, dists in (("sent", sent), ("imported", imported)):
        for key, (name, here) in sorted(dists.items()):
            if why == "imported" and key in sent:
                continue
            there = remote.get(key)
            if there != here:
                rows.append((name, here, there or "missing", why))
    return rows


SECTIONS = {
    "sent": "needed by the functions this kernel sent",
    "imported": "imported by the kernel",
}


def table(rows: list[tuple[str, str, str, str]]) -> str:
    """The rows as small fixed-width tables (package, here, there), one per section of
    :data:`SECTIONS` that has rows, each under its title."""
    head = ("package", "here", "there")
    cells = [r[:3] for r in rows]
    widths = [max(len(r[i]) for r in [head, *cells]) for i in range(3)]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    out: list[str] = []
    for why, title in SECTIONS.items():
        part = [r[:3] for r in rows if r[3] == why]
        if part:
            out += [f"{title}:", line(head), *map(line, part)]
    return "\n".join(out)


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
            "(a sync environment holds what the functions sent and this kernel import)."
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
