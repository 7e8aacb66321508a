"""The runner's side of requeue and retries (stdlib only; shipped beside the runner).

Why in the runner: a requeue must not depend on a live kernel (the notebook may be closed
when a job is preempted at night), and a retry of the function's own transient error
(``retry_on``) is cheapest where the function runs: no new submission, no queue wait, and
its ``cl.checkpoint`` is right there.

Every run of the job script appends a ``started`` line (with its ``attempt``, counted from
the ``started`` lines already in the status file: the job dir is the one memory all runs
share). The kernel's parser (``common/jobdir.py``) turns these lines into ``job.history``:

- ``{"event": "retry", "attempt": N, "cause": ..., "delay": s}``: the function raised one of
  ``retry_on``; attempt N starts after ``delay`` seconds in the same process.
- ``{"event": "requeue", "cause": ...}``: this run ends to run again later (warned of its
  time limit: the runner asked the scheduler to requeue it; or stopped by SIGTERM with
  requeue on: preemption). A later ``started`` line is the next attempt.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

POLICY = "attempts.pkl"  # the call's AttemptPolicy as a dict (config/attempts.py)
ATTEMPT_VAR = "CLUSTERLAB_ATTEMPT"  # 0 on the first run, as cl.task().attempt
RETRY, REQUEUE = "retry", "requeue"
TIME_LIMIT_WARNING = "time limit warning"
PREEMPTED = "preempted by a job of higher priority"
REQUEUE_SIGNAL = signal.SIGUSR2  # SLURM's warning; the policy may name another (warning_signal)


def runs_before(status_path: str) -> int:
    """How many runs of this job (or array task) started before this one."""
    try:
        with open(status_path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return 0
    runs = 0
    for line in data.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            runs += isinstance(record, dict) and record.get("event") == "started"
    return runs


def load_policy(job_dir: str, loads: Callable[[bytes], Any]) -> dict[str, Any]:
    """The call's policy; {} (run once) when the job dir has none."""
    try:
        with open(os.path.join(job_dir, POLICY), "rb") as fh:
            return dict(loads(fh.read()))
    except FileNotFoundError:
        return {}


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"raised {type(exc).__name__}" + (f": {text[:200]}" if text else "")


class Attempts:
    """This run's attempt number and what the policy lets it do."""

    def __init__(self, status: Callable[..., None], policy: dict[str, Any], before: int) -> None:
        self.status = status  # the runner's status writer (one JSON line per call)
        self.policy = policy
        self.attempt = before + 1
        self.requeues = before  # runs before this one ended in a requeue (or a rerun)
        self.reruns = 0
        self.requeue_noted = False
        os.environ[ATTEMPT_VAR] = str(self.attempt - 1)

    @property
    def requeue(self) -> bool:
        return bool(self.policy.get("requeue"))

    def over_limit(self) -> str:
        """A sentence when this run is one requeue too many, else ""."""
        most = int(self.policy.get("max_requeues", 3)) + int(self.policy.get("retries", 0))
        if self.requeue and self.requeues > most:
            return (
                f"it was requeued {self.requeues} times, more than max_requeues="
                f"{self.policy.get('max_requeues', 3)} allows; its last checkpoint is kept "
                "in its job dir: submit it again with a larger max_requeues= or more time="
            )
        return ""

    # -- the function's own errors ----------------------------------------------------------
    def retrying(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` rerun (after a doubling wait) when it raises one of ``retry_on``, at most
        ``retries`` times; the last error is raised as it was."""
        retry_on = tuple(self.policy.get("retry_on") or ())
        retries = int(self.policy.get("retries", 0))
        if not retry_on or not retries:
            return fn

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True  # the user's frames only, as without retries
            while True:
                try:
                    return fn(*args, **kwargs)
                except retry_on as exc:
                    if self.reruns >= retries:
                        raise
                    self.reruns += 1
                    delay = min(
                        300.0, float(self.policy.get("retry_backoff", 1.0)) * 2 ** (self.reruns - 1)
                    )
                    self.attempt += 1
                    os.environ[ATTEMPT_VAR] = str(self.attempt - 1)
                    sys.stdout.flush()
                    print(
                        f"clusterlab: attempt {self.attempt - 1} {_cause(exc)}; retrying in "
                        f"{delay:g} s (retry_on)",
                        file=sys.stderr,
                        flush=True,
                    )
                    self.status(RETRY, attempt=self.attempt, cause=_cause(exc), delay=delay)
                    time.sleep(delay)

        return run

    # -- signals ------------------------------------------------------------------------------
    def install(self, on_term: Callable[[int], None]) -> None:
        """With requeue: USR2 (the time-limit warning) requeues the job; SIGTERM notes the
        preemption before ``on_term`` (the runner's: record the exit, die of it)."""
        if not self.requeue:
            return
        signal.signal(self.warning_signal(), lambda signum, _: self.warned())

        def terminated(signum: int, _frame: Any) -> None:
            self._note(PREEMPTED)
            on_term(signum)

        signal.signal(signal.SIGTERM, terminated)

    def warning_signal(self) -> signal.Signals:
        """The scheduler's time-limit warning (USR2 on SLURM, USR1 at Grid Engine's s_rt)."""
        name = str(self.policy.get("warning_signal") or "USR2")
        return getattr(signal, f"SIG{name}", REQUEUE_SIGNAL)

    def _note(self, cause: str) -> bool:
        """Record why this run ends to run again, and let the user save once more
        (``on_signal``); False when it was already noted."""
        if self.requeue_noted:
            return False
        self.requeue_noted = True
        self.status(REQUEUE, cause=cause, attempt=self.attempt)
        callback = self.policy.get("on_signal")
        if callback is not None:
            try:
                callback()
            except Exception:  # said in its log; the last checkpoint stands
                print("clusterlab: on_signal raised:", file=sys.stderr)
                traceback.print_exc()
        return True

    def warned(self) -> None:
        """Its time limit nears: save (on_signal) and ask the scheduler to requeue it,
        unless it used up its requeues (then it runs to its limit)."""
        if self.requeues >= int(self.policy.get("max_requeues", 3)):
            print(
                "clusterlab: time limit warning; no requeue left (max_requeues="
                f"{self.policy.get('max_requeues', 3)}): it runs to its limit",
                file=sys.stderr,
                flush=True,
            )
            return
        exit_code = int(self.policy.get("requeue_exit_code") or 0)
        if exit_code:
            self._rerun_exit(exit_code)
            return
        argv = [os.path.expandvars(a) for a in self.policy.get("requeue_argv") or ()]
        if not argv or any("$" in a for a in argv):
            print(
                "clusterlab: time limit warning, but this scheduler cannot be asked to "
                "requeue from inside the job: it runs to its limit",
                file=sys.stderr,
                flush=True,
            )
            return
        if not self._note(TIME_LIMIT_WARNING):
            return
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as exc:  # not there, not runnable: said, and the run goes on
            print(
                f"clusterlab: time limit warning, but {argv[0]} could not run ({exc}): it "
                "runs to its limit",
                file=sys.stderr,
                flush=True,
            )
            return
        if done.returncode != 0:
            print(
                f"clusterlab: {' '.join(argv)} failed: {done.stderr.strip()}",
                file=sys.stderr,
                flush=True,
            )

    def _rerun_exit(self, code: int) -> None:
        """End this run with the code that makes the scheduler queue it again (Grid
        Engine's 99), once noted and saved: the function stops here, between two of its
        bytecodes, and the next run resumes from its last checkpoint."""
        if not self._note(TIME_LIMIT_WARNING):
            return
        print(
            f"clusterlab: time limit warning: this run ends here (exit {code}) to run again "
            "from its checkpoint",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(code)
