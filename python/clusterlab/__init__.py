"""clusterlab: run notebook functions and cells on clusters, from JupyterLab.

Importing the package has no side effects (no display, no threads, no connections);
``%load_ext clusterlab`` enables the notebook features.
"""

from __future__ import annotations

import sys

from . import kernels, profiles
from ._version import __version__
from .api import ClusterFunction, Executor, cluster, set_progress_display
from .common.clusterinfo import ClusterInfo, Partition
from .common.errors import (
    ClusterlabError,
    HostKeyError,
    JobError,
    LimitError,
    ProfileError,
    RemoteEnvironmentError,
    RemoteError,
    RemoteTraceback,
    ResourceError,
    SerializationError,
    SubmitError,
    TransportError,
)
from .common.estimate import Estimate
from .common.states import JobState
from .common.usage import ArrayUsage, Usage
from .config.profile import Profile
from .core.check import CheckLine, CheckReport
from .core.ledger.store import JobRecord
from .core.model.array import ArrayJob, as_completed
from .core.model.events import JobEvent
from .core.model.job import Job
from .core.model.remoteresult import RemoteResult
from .discovery import cluster_info, estimate
from .jobs import job, jobs
from .profiles import envs, use
from .ranks import TaskInfo, task
from .remote import checkpoint


def monitor(profile: str | None = None, state: str | None = None, limit: int = 50) -> object:
    """A live job monitor widget for the ledger's jobs (needs ipywidgets)."""
    from .ui.widgets import monitor as make

    return make(profile=profile, state=state, limit=limit)


def config_widget(name: str | None = None) -> object:
    """The profile form with a tooltip on every field (needs ipywidgets)."""
    from .ui.widgets import config_widget as make

    return make(name)


def _show_progress(array: ArrayJob, forced: bool) -> None:
    """A progress bar under the cell that mapped, when in a kernel with ipywidgets."""
    try:
        from .ui.widgets import progress as bar
    except ImportError:  # no ipywidgets: the array still runs, just without a bar
        return
    if forced or bar.in_kernel():
        bar.show(array)


# The package root wires the layers: the API shows progress through this hook.
set_progress_display(_show_progress)


def _register_live_cards() -> None:
    """In a kernel, Job and ArrayJob cards a cell displays update themselves, an
    environment build shows a progress bar, and the lab panel's comm target exists: the
    panel then watches this kernel's jobs from page load (job-end notifications) without
    loading anything into it (labextension/src/kernel.ts, ``watch``)."""
    ipython = sys.modules.get("IPython")  # never imported here just to ask
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from .ui import livecard

        livecard.register(shell)
        from .ui import login_prompts  # one-time codes asked in the notebook

        login_prompts.register(shell)
        from .ui import comm as lab_comm

        lab_comm.register()
        try:  # environment builds show a bar (needs ipywidgets)
            from .ui.widgets import environment_bar
        except ImportError:
            return
        environment_bar.register()


_register_live_cards()


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt Clusters sidebar lives (for `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "clusterlab"}]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext clusterlab``: the %%cluster magic and the lab panel's comm target."""
    _load_for_panel(ipython)


def _load_for_panel(ipython: object) -> None:
    """What the lab panel runs in a kernel that lacks its comm target: the same as
    ``%load_ext clusterlab`` but without entering IPython's extension manager, so the
    user's own ``%load_ext clusterlab`` (as the docs say) stays quiet and correct instead
    of printing "already loaded". Both registrations are idempotent."""
    from .ui import comm, magic

    magic.load(ipython)
    comm.register()


__all__ = [
    "ArrayJob",
    "ArrayUsage",
    "CheckLine",
    "CheckReport",
    "ClusterFunction",
    "ClusterInfo",
    "ClusterlabError",
    "Estimate",
    "Executor",
    "HostKeyError",
    "Job",
    "JobError",
    "JobEvent",
    "JobRecord",
    "JobState",
    "LimitError",
    "Partition",
    "Profile",
    "ProfileError",
    "RemoteEnvironmentError",
    "RemoteError",
    "RemoteResult",
    "RemoteTraceback",
    "ResourceError",
    "SerializationError",
    "SubmitError",
    "TaskInfo",
    "TransportError",
    "Usage",
    "__version__",
    "as_completed",
    "checkpoint",
    "cluster",
    "cluster_info",
    "config_widget",
    "envs",
    "estimate",
    "job",
    "jobs",
    "kernels",
    "monitor",
    "profiles",
    "task",
    "use",
]
