"""The job script every backend submits: cd into the job dir, the backend's own lines, the
profile's setup lines, a check that Python exists, the runner, and a record of how the
runner ended. Only the setup lines (the user's own shell code) are written as given;
every other value is quoted or reduced to a safe token."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import JobSpec


def script_token(name: str, limit: int = 64) -> str:
    """A job name as it may appear in a script line or a scheduler option: letters,
    digits and ``_.+-`` only (anything else becomes ``_``), never empty. Names are checked
    at submission too (:func:`clusterlab.config.validators.check_job_name`); this keeps a
    script safe whatever reaches it."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)[:limit] or "clusterlab"


def lettered_token(name: str, limit: int = 64) -> str:
    """:func:`script_token` starting with a letter, as PBS and Grid Engine want a ``-N``."""
    text = re.sub(r"^[^A-Za-z]+", "", re.sub(r"[^A-Za-z0-9_.+-]", "_", name))
    return text[:limit] or "clusterlab"


def render_script(
    spec: JobSpec,
    header: Sequence[str] = (),
    task_var: str = "",
    preamble: Sequence[str] = (),
    enforce_limit: bool = False,
    warning_signal: str = "USR2",
    forward_warning: bool = True,
) -> str:
    """The job script every backend runs: cd, setup lines, check Python, exec the runner.

    Only ``spec.setup`` (the user's own shell lines) is written as is; every value is
    quoted, and a missing interpreter is recorded in the status file so the job is settled
    with a sentence instead of an unexplained exit code. Array tasks read their index from
    the scheduler's variable (``task_var``). ``preamble`` lines (the backend's own, see
    :meth:`.batch.BatchBackend.preamble`) run in the job dir before the setup lines.
    ``enforce_limit``: the script stops the runner at the time limit itself (for
    schedulers without one of their own, ``local``). ``warning_signal``: the signal by which
    the scheduler warns a requeue job of its time limit; ``forward_warning``: the shell
    passes it on to the runner (it reached the shell only), else it only survives it.
    """
    lines = ["#!/bin/sh", *header, f"# clusterlab job {spec.job_id} ({script_token(spec.name)})"]
    lines.append(f"JOB_DIR={shlex.quote(spec.job_dir)}")
    lines.append('cd -- "$JOB_DIR" || exit 97')
    if spec.array:
        lines.append(f'TASK="${{{task_var}}}"')
        lines.append('STATUS="status.$TASK"')
    else:
        lines.append("STATUS=status")
    lines.extend(preamble)
    if spec.env:
        lines.append("# environment variables (values are data, quoted)")
        lines += [f"export {name}={shlex.quote(value)}" for name, value in spec.env.items()]
    if spec.setup:
        lines.append("# profile setup lines")
        lines.extend(spec.setup)
    lines.extend(_workdir_lines(spec))
    runner_args = '"$JOB_DIR" "$TASK"' if spec.array else '"$JOB_DIR"'
    limit = ""
    if enforce_limit and spec.resources.time_s:
        # The job keeps its time limit without the kernel that started it (coreutils
        # timeout: TERM at the limit, KILL 5 s later; exit 124 says it was the limit).
        limit = f"timeout -k 5 {int(spec.resources.time_s)} "
    lines += [
        # A program on PATH or a path: a shell builtin (':', 'true') would "run" nothing.
        f"case $(command -v -- {shlex.quote(spec.python[0])} 2>/dev/null) in /*) ;; *)",
        '  printf \'%s\\n\' \'{"event": "finished", "outcome": "no_python"}\' >> "$STATUS"',
        '  echo "clusterlab: the profile\'s python command was not found" >&2',
        "  exit 127 ;;",
        "esac",
        *(line for program in spec.needs for line in _needs_lines(program)),
        # The runner runs as a child, not exec'd, so that how it ended is recorded when it
        # could not say so itself (its Python killed for memory, or crashed): the "exit"
        # line is what a later kernel settles such a job by. A signal to the whole job
        # (cancel, time limit) ends this shell too; the runner records that one itself.
        *_runner_lines(
            f"{limit}{shlex.join(spec.python)} runner.py {runner_args}",
            spec,
            warning_signal,
            forward_warning,
        ),
        'printf \'{"event": "exit", "code": %d, "time": %s}\\n\' "$code" "$(date +%s)" '
        '>> "$STATUS"',
        'exit "$code"',
    ]
    return "\n".join(lines) + "\n"


def _needs_lines(program: str) -> list[str]:
    """Stop with a sentence naming ``program`` when it is not on PATH where the job runs
    (a node without the container engine the login node has)."""
    message = (
        f"{program} was not found on PATH where the job ran (after the profile's setup "
        f"lines): add a setup line that provides it there (e.g. 'module load {program}')"
    )
    record = json.dumps({"event": "finished", "outcome": "env_error", "message": message})
    return [
        f"case $(command -v -- {shlex.quote(program)} 2>/dev/null) in /*) ;; *)",
        f"  printf '%s\\n' {shlex.quote(record)} >> \"$STATUS\"",
        f"  printf '%s\\n' {shlex.quote('clusterlab: ' + message)} >&2",
        "  exit 127 ;;",
        "esac",
    ]


def _runner_lines(
    command: str, spec: JobSpec, warning_signal: str = "USR2", forward: bool = True
) -> list[str]:
    """Run the runner and keep its exit code in ``code``. A requeue job's warning (SLURM's
    USR2) reaches only this shell (``--signal=B:``, so that no step of the user's own is
    signalled): the runner then runs in the background and the shell passes the signal on;
    ``wait`` returns early for a trapped signal, so it waits again until the runner ended.
    (Grid Engine's USR1 at ``s_rt`` reaches every process of the job: there the trap only
    keeps this shell alive, and sends no second copy.)"""
    if not spec.requeue_grace:
        return [command, "code=$?"]
    sig = re.sub(r"[^A-Z0-9]", "", warning_signal.upper()) or "USR2"
    action = f'warned=1; kill -{sig} "$runner" 2>/dev/null' if forward else "warned=1"
    # A wait cut short by the trap (>128, the trap ran) has not collected the runner: wait
    # again, even when it has ended meanwhile (asking `kill -0` then would keep the 128+N
    # of the interrupted wait as the runner's exit code).
    return [
        f"trap '{action}' {sig}",
        f"{command} &",
        "runner=$!",
        'while :; do warned=; wait "$runner"; code=$?; '
        '[ -n "$warned" ] && [ "$code" -gt 128 ] || break; done',
    ]


def _workdir_lines(spec: JobSpec) -> list[str]:
    """The working dir (created 0700 when new; the runner changes into it) and the input
    files copied into it from the content-addressed store. Nothing when neither is set, so
    the runner uses the job dir's own ``work/``."""
    if not spec.workdir and not spec.inputs:
        return []
    where = shlex.quote(spec.workdir) if spec.workdir else '"$JOB_DIR/work"'
    lines = [
        "# working directory and input files",
        f"CLUSTERLAB_WORKDIR={where}",  # the runner reads it (jobdir.WORKDIR_VAR)
        "export CLUSTERLAB_WORKDIR",
        '(umask 077; mkdir -p -- "$CLUSTERLAB_WORKDIR") || exit 96',
    ]
    for source, dest in spec.inputs:
        parent = dest.rpartition("/")[0]
        if parent:
            lines.append(f'(umask 077; mkdir -p -- "$CLUSTERLAB_WORKDIR"/{shlex.quote(parent)})')
        # copy, then rename into place: the tasks of an array copy at the same moment
        target = f'"$CLUSTERLAB_WORKDIR"/{shlex.quote(dest)}'
        lines.append(
            f"cp -f -- {shlex.quote(source)} {target}.$$.tmp && "
            f"mv -f -- {target}.$$.tmp {target} || exit 96"
        )
    return lines
