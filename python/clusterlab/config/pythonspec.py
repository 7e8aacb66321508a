"""A profile's ``python``: a command line, or a conda / mamba / micromamba / pixi environment.

A conda environment's Python is not just ``<prefix>/bin/python``: packages such as
numpy (MKL), GDAL or CUDA toolkits need the activation (``PATH``, ``LD_LIBRARY_PATH``,
their ``activate.d`` scripts). The tools' own ``run`` subcommand activates it for one
command, which is what a job, the probe and the status agent need, without a shell
function (``conda activate`` needs ``conda init`` in an interactive shell; batch shells
are not). So ``python="conda:NAME"`` becomes::

    conda run --no-capture-output -n NAME python      (a prefix path: -p PREFIX)
    mamba run -n NAME python                          (micromamba: the same)
    pixi run --manifest-path PROJECT [--environment ENV] python

``--no-capture-output`` because ``conda run`` otherwise holds the job's output until it
ends (no live logs). The tool must be a program on ``PATH`` after the setup lines, e.g.
``setup = ["export PATH=$HOME/miniconda3/condabin:$PATH"]``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

TOOLS = ("conda", "mamba", "micromamba", "pixi")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}\Z")  # a conda env name
_ENV_RE = re.compile(r"^[a-z0-9-]{1,64}\Z")  # a pixi environment name


def tool_of(text: str) -> tuple[str, str] | None:
    """``(tool, target)`` for ``"tool:target"`` with a known tool, else None."""
    tool, sep, target = text.strip().partition(":")
    return (tool, target) if sep and tool in TOOLS else None


def is_path(target: str) -> bool:
    return target.startswith(("/", "~/"))


def check_tool_env(tool: str, target: str) -> None:
    """Raise ValueError with the sentence that fixes a bad ``tool:target``."""
    example = {
        "pixi": "'pixi:~/project' or 'pixi:~/project#gpu'",
    }.get(tool, f"'{tool}:myenv' or '{tool}:~/envs/myenv'")
    if tool == "pixi":
        project, _, env = target.partition("#")
        if not is_path(project):
            raise ValueError(f"give the pixi project as a full path or '~/...', e.g. {example}")
        if env and not _ENV_RE.match(env):
            raise ValueError(f"{env!r} is not a pixi environment name (a-z, 0-9, '-'): {example}")
        target = project
    if is_path(target):
        if any(ch in target for ch in "\n\r\0") or "/../" in f"{target}/":
            raise ValueError(f"give the environment's prefix as one plain path, e.g. {example}")
        return
    if "/" in target or not _NAME_RE.match(target):
        raise ValueError(
            f"{target[:60]!r} is neither an environment name (letters, digits, '_', '.', "
            f"'+', '-') nor a full path: use e.g. {example}"
        )


def python_command(text: str, expand: Callable[[str], str] = lambda p: p) -> list[str]:
    """The argv of a profile's ``python`` (``expand`` resolves '~' of paths where they are
    used). A tool environment becomes its tool's ``run`` command (see the module doc)."""
    found = tool_of(text)
    if found is None:
        argv = shlex.split(text)
        return [expand(argv[0]), *argv[1:]]
    tool, target = found
    if tool == "pixi":
        project, _, env = target.partition("#")
        argv = ["pixi", "run", "--manifest-path", expand(project)]
        return [*argv, *(["--environment", env] if env else []), "python"]
    where = ["-p", expand(target)] if is_path(target) else ["-n", target]
    capture = ["--no-capture-output"] if tool == "conda" else []
    return [tool, "run", *capture, *where, "python"]


def describe(text: str) -> str:
    """How a tool environment is run, for preflight ('' for a plain command)."""
    found = tool_of(text)
    if found is None:
        return ""
    tool, target = found
    return f"{tool} environment {target!r}, run as `{shlex.join(python_command(text))}`"
