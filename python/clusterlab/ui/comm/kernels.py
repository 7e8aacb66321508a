"""The ``kernels.*`` requests: the panel's "Start a notebook on this cluster".

``kernels.remaining`` says how long a cluster kernel's allocation has left (the notebook's
status bar). ``kernels.list`` gives the form's fields (label, tooltip, example) and the clusterlab
kernelspecs installed; ``kernels.install`` installs (or reuses) the kernelspec of a profile
with the form's resources and names it, so the panel can open a notebook with that kernel.
All three only read and write local files (kernelspecs, profiles): they are answered at once.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ...common.errors import ClusterlabError
from ...kernels import allocation, form
from ...kernels.specs import installed
from .topic import Connection, Request, RequestError, Topic, required


def list_kernels(data: dict[str, Any], rid: str) -> dict[str, Any]:
    """``{"fields": [FIELD, ...], "kernels": [KERNEL, ...]}``."""
    return {"fields": form.fields(), "kernels": [asdict(k) for k in installed()]}


def install(data: dict[str, Any], rid: str) -> dict[str, Any]:
    """``{"kernel": KERNEL, "reused": bool}``; a bad value is an error whose ``fields``
    maps each field to the parser's sentence."""
    profile = required(data, "profile", "a profile name")
    values = data.get("resources") or {}
    if not isinstance(values, dict):
        raise RequestError('\'resources\' must be an object such as {"cores": "4"}')
    try:
        info, reused = form.install_or_reuse(profile, values)
    except form.FieldErrors as exc:
        raise RequestError(str(exc), exc.errors) from None
    except ClusterlabError as exc:
        raise RequestError(str(exc)) from None
    return {"kernel": asdict(info), "reused": reused}


def remaining(data: dict[str, Any], rid: str) -> dict[str, Any]:
    """``{"allocation": ALLOCATION}`` of the Jupyter kernel ``kernel_id`` (what
    :func:`clusterlab.kernels.allocation.remaining` returns; ``found`` false for a kernel
    that is not a cluster kernel's, or whose job has ended)."""
    return {"allocation": allocation.remaining(required(data, "kernel_id", "a Jupyter kernel id"))}


def open_topic(conn: Connection) -> Topic:
    return Topic(
        {
            "kernels.list": Request(list_kernels),
            "kernels.install": Request(install),
            "kernels.remaining": Request(remaining),
        }
    )
