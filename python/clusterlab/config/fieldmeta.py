"""The metadata every profile field carries: the schema forms, the comm, the CLI prompts
and the docs read (label, tooltip, example, the kinds it applies to, its check, its
widget and, for a choice, its choices), and how the fields scheduler kinds bring join
the Profile dataclass."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ..common import kinds as registry


def meta(
    label: str,
    tooltip: str,
    example: str = "",
    kinds: tuple[str, ...] | None = None,
    check: Callable[[Any], Any] | None = None,
    widget: str = "text",
    choices: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """A field's metadata; ``kinds`` None: the field applies to every registered kind."""
    return {
        "label": label,
        "tooltip": tooltip,
        "example": example,
        "kinds": registry.names() if kinds is None else kinds,
        "check": check,
        "widget": widget,
        "choices": choices,
    }


T = TypeVar("T")


def with_kind_fields(before: str) -> Callable[[type[T]], type[T]]:
    """A ``dataclass`` decorator that first adds the fields the registered scheduler kinds
    bring (:func:`clusterlab.common.kinds.kind_fields`), in registry order, just before
    the field ``before``: so a scheduler's fields live with the scheduler, and the
    Profile's field order (the forms' order) stays what it was."""

    def build(cls: type[T]) -> type[T]:
        own = dict(inspect.get_annotations(cls))
        extra = registry.kind_fields()
        clash = sorted(set(own) & {f.name for f in extra})
        if clash:
            raise TypeError(f"scheduler kinds redefine profile fields {clash}: rename theirs")
        annotations: dict[str, Any] = {}
        for name, annotation in own.items():
            if name == before:
                annotations.update({f.name: f.annotation for f in extra})
            annotations[name] = annotation
        for f in extra:
            setattr(cls, f.name, f.field)
        cls.__annotations__ = annotations
        return dataclasses.dataclass(cls)

    return build
