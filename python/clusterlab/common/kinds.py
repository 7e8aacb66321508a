"""The registry of scheduler kinds: what a profile's ``scheduler`` may name, found through
the ``clusterlab.schedulers`` entry-point group.

Each kind is one :class:`SchedulerKind` object in its own module (the built-in ones are
``clusterlab/backends/*_kind.py``), registered in a distribution's metadata::

    [project.entry-points."clusterlab.schedulers"]
    slurm = "clusterlab.backends.slurm_kind:KIND"

clusterlab's own kinds are registered exactly so, in its ``pyproject.toml``; another
package adds a scheduler the same way, with no change to clusterlab. The kind object
carries everything clusterlab needs to know about the scheduler: its backend (named as
``module:Class`` and imported on first use), what it can do, the profile fields only it
uses (with the metadata forms, the CLI and the docs read), a check across fields, the
profile fields that tell its cluster instances apart, and its row in the docs.

This module sits in the lowest layer and imports no backend, so the configuration layer
reads the registry without importing the machinery above it; entry points are loaded on
the first question asked of the registry (the Profile class asks when it is built).
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, NamedTuple

GROUP = "clusterlab.schedulers"
"""The entry-point group a scheduler kind is registered in."""

ARRAYS = "arrays"  # native array jobs (one submission for a whole map)
THROTTLE = "throttle"  # a cap on an array's tasks running at once
DEPENDENCIES = "dependencies"  # a job waits for others (afterok)
TASK_DEPENDENCIES = "task dependencies"  # ...for single tasks of an array, not just all of it
REMOTE = "over SSH"  # runs on another machine through the SSH transport
FEATURES = (ARRAYS, THROTTLE, DEPENDENCIES, TASK_DEPENDENCIES, REMOTE)
# What a resource request may need (config.resources.Resources.needs names them). A kind
# that has a feature renders it; one that lists it in `ignores` accepts it without effect;
# any other refuses it at submission with its `refusals` sentence.
QOS = "qos"  # a quality of service
CONSTRAINT = "node features"  # constraint=
GPU_TYPES = "GPU types"  # gpus="a100:2"
NODES = "several nodes"  # nodes > 1
TASKS = "several tasks"  # tasks > 1: an allocation the job's code starts tasks in
RESOURCE_FEATURES = (QOS, CONSTRAINT, GPU_TYPES, NODES, TASKS)


class KindField(NamedTuple):
    """A profile field only some kinds use: its attribute name, its annotation (as the
    dataclass would read it) and the ``dataclasses.field`` with the schema metadata."""

    name: str
    annotation: str
    field: Any  # dataclasses.Field; Any, as dataclasses.field() is typed as its default


#: A check across a profile's fields: adds ``field -> sentence`` to ``errors``.
ProfileCheck = Callable[[Any, dict[str, str]], None]


@dataclass(frozen=True)
class SchedulerKind:
    """What a profile's ``scheduler`` value means and what its backend can do."""

    name: str  # the profile value, e.g. "slurm"
    label: str  # how people write it, e.g. "SLURM"
    summary: str  # one line for menus, prompts and the docs' support table
    backend: str  # "package.module:Class" (or a factory), imported on first use
    features: frozenset[str] = field(default_factory=frozenset)
    ignores: frozenset[str] = field(default_factory=frozenset)  # accepted, not enforced
    refusals: Mapping[str, str] = field(default_factory=dict)  # feature -> what to do
    fields: tuple[KindField, ...] = ()  # profile fields only this kind uses
    check_profile: ProfileCheck | None = None  # checks across fields, after each field's
    cluster_key: tuple[str, ...] = ()  # fields that choose the scheduler instance
    queues_itself: bool = False  # clusterlab queues its jobs, max_concurrent at a time
    # Its jobs run in a container image already (a pod): a profile's `container` names that
    # image, and no engine (podman, apptainer) is wrapped around the job's Python.
    runs_in_image: bool = False
    offline_backend: str = ""  # "module:factory" for a preview that must not connect
    order: int = 100  # place in menus, forms and docs (clusterlab's own: 0-50)

    @property
    def remote(self) -> bool:
        """Whether a profile of this kind may name a host (SSH fields apply)."""
        return REMOTE in self.features

    def load(self, offline: bool = False) -> Callable[..., Any]:
        """The backend class, or a factory choosing one (e.g. among a family's flavors);
        ``offline``: the one that renders a preview without connecting, when it differs."""
        spec = self.offline_backend if offline and self.offline_backend else self.backend
        module, _, name = spec.partition(":")
        backend: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return backend


_lock = threading.Lock()
_kinds: dict[str, SchedulerKind] | None = None


def _load() -> dict[str, SchedulerKind]:
    found: dict[str, SchedulerKind] = {}
    for point in sorted(metadata.entry_points(group=GROUP), key=lambda p: p.name):
        where = f"the '{GROUP}' entry point {point.name!r} ({point.value})"
        try:
            kind = point.load()
        except Exception as exc:  # one broken plugin must not take every profile down
            warnings.warn(
                f"clusterlab: {where} could not be imported ({type(exc).__name__}: {exc}); "
                "its scheduler is unavailable until that package is fixed or uninstalled",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        if not isinstance(kind, SchedulerKind) or kind.name != point.name:
            warnings.warn(
                f"clusterlab: {where} is not a SchedulerKind named {point.name!r}; "
                "it is ignored (ask its package's authors)",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        if kind.name in found:
            warnings.warn(
                f"clusterlab: {where} registers the scheduler {kind.name!r} a second time; "
                "the first one is kept",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        found[kind.name] = kind
    if found:
        # Menu order: a kind's `order`, then its name (entry points come in no set order).
        return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))
    raise RuntimeError(
        f"no scheduler kinds are registered in the '{GROUP}' entry-point group: "
        "clusterlab's install metadata is missing or out of date; reinstall it "
        "(pip install -e . in a checkout, or make install-dev)"
    )


def kinds() -> dict[str, SchedulerKind]:
    """Every registered kind by name, in menu order (loaded once)."""
    global _kinds
    with _lock:
        if _kinds is None:
            _kinds = _load()
        return _kinds


def names() -> tuple[str, ...]:
    """Every scheduler a profile may name."""
    return tuple(kinds())


def remote_names() -> tuple[str, ...]:
    """Schedulers that may run on another machine (the SSH fields apply to them)."""
    return tuple(k.name for k in kinds().values() if k.remote)


def self_queued_names() -> tuple[str, ...]:
    """Schedulers whose jobs clusterlab queues itself (``max_concurrent`` applies)."""
    return tuple(k.name for k in kinds().values() if k.queues_itself)


def get(name: str) -> SchedulerKind:
    """The kind called ``name``; a ValueError naming the valid ones otherwise."""
    kind = kinds().get(str(name).lower())
    if kind is None:
        raise ValueError(f"{name!r} is not supported; choose one of: {', '.join(kinds())}")
    return kind


def kind_fields() -> list[KindField]:
    """The profile fields the kinds add, in registry order; a field two kinds declare
    (the same name) is added once."""
    out: dict[str, KindField] = {}
    for kind in kinds().values():
        for extra in kind.fields:
            out.setdefault(extra.name, extra)
    return list(out.values())


def cluster_key_parts(profile: Any) -> list[Any]:
    """The values of the profile fields its kind says choose a scheduler instance (a
    settings file, a flavor), for the key that tells clusters apart."""
    return [getattr(profile, name) for name in get(profile.scheduler).cluster_key]
