"""What a call's requeue/retry policy adds to its submission: the policy file the runner
reads, and the job script's warning before the time limit (see config/attempts.py for
the options, remote/attempts.py for what the runner does with them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...common import jobdir
from ...common.errors import SubmitError
from ...config.attempts import AttemptPolicy
from ..transfer.payload import dumps_settings

if TYPE_CHECKING:
    from ...backends.base import Backend


def check_policy(policy: AttemptPolicy, backend: Backend, scheduler: str) -> None:
    """Refuse what this scheduler cannot do, before anything is staged."""
    if policy.requeue and not (
        backend.requeue_argv() or backend.requeue_exit_code() or backend.requeues_by_resubmission()
    ):
        raise SubmitError(
            f"requeue=True needs a scheduler that requeues a running job; {scheduler} here "
            "does not: use retries=N (reruns after a failure outside the function, resuming "
            "from cl.checkpoint), or a scheduler that requeues (see the docs' preemption page)"
        )
    if policy.retries and not policy.retry_on and not backend.can_resubmit():
        raise SubmitError(
            f"retries= submits a job that failed outside its function again; {scheduler} "
            "cannot run a job dir twice: add retry_on=(ExceptionType, ...) to rerun the "
            "function's own errors where it runs, or use another scheduler"
        )


def policy_files(policy: AttemptPolicy, backend: Backend) -> dict[str, bytes]:
    """The runner's copy of the policy (nothing for a call that runs once)."""
    if not policy.active:
        return {}
    shipped = {
        **policy.for_runner(),
        "requeue_argv": backend.requeue_argv(),
        "warning_signal": backend.warning_signal(),
        "requeue_exit_code": backend.requeue_exit_code(),
    }
    return {jobdir.ATTEMPTS: dumps_settings("on_signal= or retry_on=", shipped)}


def requeue_grace(policy: AttemptPolicy) -> int:
    """Seconds before the time limit the job is warned; 0 without requeue."""
    return policy.grace_s if policy.requeue else 0
