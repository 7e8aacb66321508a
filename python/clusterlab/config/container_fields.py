"""Profile fields about the container a job's Python runs in (``container``,
``container_engine``). Apart from :mod:`.profile` because they belong together and
their command lines are :mod:`.containerspec`'s.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from . import containerspec
from .fieldmeta import meta as _meta
from .validators import one_path, text_value


def check_container(value: Any) -> str:
    text = one_path(value, containerspec.EXAMPLE).strip()
    if text:
        containerspec.check_image(text)
    return text


def check_container_engine(value: Any) -> str:
    text = text_value(value, "auto").strip().lower() or "auto"
    containerspec.check_engine(text)
    return text


def container() -> Any:
    return field(
        default="",
        metadata=_meta(
            "Container image",
            "Run the job's Python inside this image: a reference ('docker.io/library/"
            "python:3.11-slim'), a .sif file, or 'oci-archive:/path/image.tar'. The job "
            "dir, clusterlab's remote dir and the working dir are bound at the same paths; "
            "the Python command is then the image's ('python3' when empty). A scheduler "
            "whose jobs are containers already (pods) runs this image itself.",
            "docker.io/library/python:3.11-slim",
            check=check_container,
        ),
    )


def container_engine() -> Any:
    return field(
        default="auto",
        metadata=_meta(
            "Container engine",
            "Which engine runs the container: 'auto' picks the first of apptainer, "
            "singularity, podman, docker that the cluster has (preflight names it).",
            "auto",
            check=check_container_engine,
            widget="choice",
            choices=("auto", *containerspec.ENGINES),
        ),
    )
