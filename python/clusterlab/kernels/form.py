"""The "Start a notebook on this cluster" form of the lab panel: its fields and the
install-or-reuse step behind its Start button.

The fields (label, tooltip, example) live here, beside the kernelspecs they fill in, so the
panel never spells a resource's meaning itself; each value is checked with the executor's
own parser, field by field, so the panel shows each message under its field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..common.errors import ClusterlabError, ResourceError
from ..config.resources import parse_resources
from .specs import KernelInfo, install, installed, spec_name


@dataclass(frozen=True)
class KernelField:
    """One resource field of the form (as the panel shows it)."""

    name: str
    label: str
    tooltip: str
    example: str


FIELDS: tuple[KernelField, ...] = (
    KernelField(
        "cores",
        "Cores",
        "CPU cores of the kernel's job; empty: the profile's default resources.",
        "4",
    ),
    KernelField(
        "memory",
        "Memory",
        "Memory of the kernel's job, e.g. 16GB or 512MB; empty: the profile's default.",
        "16GB",
    ),
    KernelField(
        "time",
        "Time",
        "Wall time of the kernel's job (H:MM:SS or D-HH:MM:SS): the kernel ends when it "
        "runs out; empty: the profile's default.",
        "2:00:00",
    ),
    KernelField(
        "gpus",
        "GPUs",
        "GPUs of the kernel's job: a count (1) or a type and a count (a100:2); empty: none "
        "beyond the profile's default.",
        "1",
    ),
    KernelField(
        "partition",
        "Partition",
        "The partition (queue) the kernel's job waits in; empty: the profile's default or "
        "the cluster's.",
        "normal",
    ),
)


class FieldErrors(ClusterlabError):
    """Values the form must change, by field name (each a sentence from the parser)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {text}" for name, text in errors.items()))
        self.errors = errors


def fields() -> list[dict[str, str]]:
    """The form's fields as the comm sends them."""
    return [asdict(field) for field in FIELDS]


def resources_of(values: dict[str, Any]) -> dict[str, Any]:
    """The form's values as resources: empty ones are left out (the profile's defaults
    apply); each is checked alone first so its message lands under its own field."""
    known = {field.name for field in FIELDS}
    errors: dict[str, str] = {}
    chosen: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            errors[key] = f"not a field of this form; the fields are: {', '.join(sorted(known))}"
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        value = value.strip() if isinstance(value, str) else value
        try:
            parse_resources({key: value})
        except ResourceError as exc:
            errors[key] = str(exc)
            continue
        chosen[key] = value
    if errors:
        raise FieldErrors(errors)
    return chosen


def _same(info: KernelInfo, profile: str, resources: dict[str, Any]) -> bool:
    return info.profile == profile and info.resources == resources


def install_or_reuse(profile: str, values: dict[str, Any]) -> tuple[KernelInfo, bool]:
    """The kernelspec for ``profile`` with the form's ``values``: an installed one that
    asks for exactly these resources is reused (a second Start makes no second spec);
    else ``clusterlab-PROFILE`` is installed, replacing an older one. Returns it and
    whether it was reused."""
    from .. import profiles

    resources = resources_of(values)
    loaded = profiles.load(profiles.require(profile))
    merged = {**loaded.resources, **resources}
    wanted = parse_resources(merged).to_dict()
    default = spec_name(loaded.name)
    mine = [k for k in installed() if _same(k, loaded.name, wanted)]
    mine.sort(key=lambda k: k.name != default)  # the default name first
    if mine:
        return mine[0], True
    return install(loaded.name, **resources), False
