"""Rerun items of an array: the same function and the same items, read back from the
cluster (nothing has to stay in the kernel), submitted as a new native array of the same
:class:`ArrayJob`, run as the map was (its working dir, variables, inputs and Python,
kept in its ledger row, so also from a new kernel)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cloudpickle

from ...common import jobdir
from ...common.errors import ClusterlabError
from ..model.alive import live
from ..model.array import ArrayJob
from ..model.dependencies import Dependencies
from ..transfer.staging import resolve
from .submit import Call, plan_for, submit_calls

if TYPE_CHECKING:
    from ..runtime import Runtime


def rerun(runtime: Runtime, array: ArrayJob, indices: Sequence[int]) -> None:
    """Resubmit ``indices`` of ``array`` (same function, same items) as a new native array.

    The calls are read back from the cluster, so nothing has to stay in the kernel.
    """
    if not indices:
        return
    by_file: dict[str, set[int]] = {}
    for i in indices:
        job = array.elements[i]
        by_file.setdefault(f"{job.job_dir}/{jobdir.task_items(array.block_of(i))}", set()).add(i)
    fn_path = f"{array.elements[indices[0]].job_dir}/{jobdir.FUNCTION}"
    files = runtime.transport.read_files([fn_path, *by_file])
    gone = [p for p, data in files.items() if data is None]
    if gone:
        raise ClusterlabError(f"cannot rerun: {gone[0]} no longer exists (cleaned up?)")
    calls: list[Call] = []
    for path, wanted in by_file.items():
        calls += [c for c in cloudpickle.loads(files[path] or b"") if c[0] in wanted]
    calls.sort(key=lambda c: c[0])
    resources = array.elements[indices[0]].resources
    deps = Dependencies(runtime.backend, runtime.profile.name)
    for dep_id in array.elements[indices[0]].after_ids:  # the same afterok as before
        dep = live.get(dep_id)
        if dep is not None:
            deps.add(dep)
    plan = plan_for(runtime, len(calls), resources, None, None, 0)
    staged = array.staged or resolve(runtime, None)  # (arrays of older releases: no record)
    if array.python is None:
        runtime.ensure_ready(staged.options.environment)
        array.python = runtime.environment.python_argv(staged.options.environment)
    fn_bytes = files[fn_path] or b""
    submit_calls(runtime, array, plan, fn_bytes, calls, resources, deps, 0, staged)
