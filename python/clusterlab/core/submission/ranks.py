"""What a job script tells the runner about a multi-task job (``tasks=N``): the task
count and the launcher, as environment variables (the runner's ``runner_tasks.py`` reads
them). A job of one task gets none, so its script stays as it was."""

from __future__ import annotations

from ...common import jobdir
from ...common.errors import ResourceError
from ...config.resources import Resources


def task_env(resources: Resources) -> dict[str, str]:
    """``CLUSTERLAB_TASKS`` and ``CLUSTERLAB_LAUNCHER`` for a job of several tasks."""
    if resources.task_count <= 1:
        return {}
    return {
        jobdir.TASKS_VAR: str(resources.task_count),
        jobdir.LAUNCHER_VAR: resources.launcher or "auto",
    }


def refuse_ranked_map(resources: Resources) -> None:
    """An array's tasks run items one after another, not ranks: ``.map()`` with tasks=N
    (N > 1) is refused with what to do instead, rather than running each item once."""
    if resources.task_count > 1 and resources.launcher != "none":
        raise ResourceError(
            f".map() with tasks={resources.task_count}: the items of a map run one task "
            "each; submit one multi-task job per item instead ([f.submit(x) for x in "
            "items]), or pass launcher='none' to run each item once in an allocation of "
            f"{resources.task_count} tasks where your code starts its own"
        )
