"""The metadata every profile field carries: the schema forms, the comm, the CLI prompts
and the docs read (label, tooltip, example, the kinds it applies to, its check, its
widget and, for a choice, its choices)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backends import registry

SCHEDULER_KINDS = registry.names()
"""Schedulers a profile may name (read from :mod:`clusterlab.backends.registry`)."""


def meta(
    label: str,
    tooltip: str,
    example: str = "",
    kinds: tuple[str, ...] = SCHEDULER_KINDS,
    check: Callable[[Any], Any] | None = None,
    widget: str = "text",
    choices: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    return {
        "label": label,
        "tooltip": tooltip,
        "example": example,
        "kinds": kinds,
        "check": check,
        "widget": widget,
        "choices": choices,
    }
