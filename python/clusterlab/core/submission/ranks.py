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


def refuse_ranked_map(resources: Resources, workers: int | None) -> None:
    """Each item of a map with tasks=N runs on N tasks, one item after another in its
    array task; a pool's workers claim items one by one, which several tasks per item
    cannot share: that combination is refused with what to do instead."""
    if workers and resources.task_count > 1 and resources.launcher != "none":
        raise ResourceError(
            f".map(workers={workers}) with tasks={resources.task_count}: a pool's workers "
            "take items one at a time and cannot run each on several tasks; leave workers "
            "out (each item then runs on every task of its array task)"
        )
