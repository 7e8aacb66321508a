"""What a finished job gave, as text for the lab panel: its value's repr or its traceback.

The panel's ``job.result`` request lands here (on the comm's thread pool: reading a result
may fetch a file from the cluster). A job that has not ended has no result yet and says so
instead of waiting; an array answers per item (``ARRAYID:INDEX``), as its logs do.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from ..common.errors import ClusterlabError, RemoteTraceback, readable_traceback
from ..common.states import TERMINAL

RESULT_TEXT_BYTES = 64 * 1024  # the panel shows the start of a longer repr
RESULT_WAIT = 30.0  # seconds to read an ended job's result file before saying it could not


def _clip(text: str) -> tuple[str, bool]:
    if len(text) <= RESULT_TEXT_BYTES:
        return text, False
    return text[:RESULT_TEXT_BYTES], True


def _traceback_text(exc: BaseException) -> str:
    """The remote traceback as the notebook would show it (it ends with the exception
    line); an error raised here (e.g. the result file is gone) is its own message."""
    cause = exc.__cause__
    if isinstance(cause, RemoteTraceback):
        return readable_traceback(cause.tb).rstrip("\n")
    return f"{type(exc).__name__}: {exc}"


def result_text(job_id: str) -> dict[str, Any]:
    """``{id, state, outcome, text, truncated}``; outcome is ``value`` (text is its repr),
    ``error`` (text is its traceback) or ``cancelled`` (text says why). Raises
    ClusterlabError, with what to do, for an array, an unknown id or a job still running."""
    from ..core.model.array import ArrayJob
    from ..jobs import job

    target = job(job_id)
    if isinstance(target, ArrayJob):
        raise ClusterlabError(
            f"results belong to array items: ask for '{target.id}:INDEX' (0 to {len(target) - 1})"
        )
    if target.state not in TERMINAL:
        raise ClusterlabError(
            f"job {target.id} is {target.state.value}: its result is there once it ends "
            "(the panel shows it then)"
        )
    outcome, text = "value", ""
    try:
        text = repr(target.result(timeout=RESULT_WAIT))
    except concurrent.futures.TimeoutError as exc:
        raise ClusterlabError(
            f"job {target.id} ended but its result could not be read within "
            f"{RESULT_WAIT:.0f} s; try again, or read its log"
        ) from exc
    except concurrent.futures.CancelledError:
        outcome, text = "cancelled", f"{target.state.value}: {target.reason}"
    except Exception as exc:  # the job's own exception: what the panel shows
        outcome, text = "error", _traceback_text(exc)
    clipped, truncated = _clip(text)
    return {
        "id": target.id,
        "state": target.state.value,
        "outcome": outcome,
        "text": clipped,
        "truncated": truncated,
    }
