"""Exceptions a user can catch. Every message says what went wrong *and what to do*."""

from __future__ import annotations

import concurrent.futures
import linecache
import re
import sys
from types import TracebackType
from typing import Literal


class ClusterlabError(Exception):
    """Base class, so ``except clusterlab.ClusterlabError`` catches every error we raise."""


class ProfileError(ClusterlabError, ValueError):
    """A profile field is invalid; ``field`` names it so forms can show the error inline."""

    def __init__(self, field: str, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.errors = errors or {field: message}


class ResourceError(ClusterlabError, ValueError):
    """A resource request (cores, memory, time...) is invalid or unknown."""


class SerializationError(ClusterlabError, TypeError):
    """The function, an argument or a result cannot be pickled; the message names it."""


class TransportError(ClusterlabError, ConnectionError):
    """We could not reach the host or run a command on it."""


class HostKeyError(TransportError):
    """The host's SSH key is unknown or has changed; we refuse to talk to it."""


class SubmitError(ClusterlabError):
    """The scheduler refused the job; nothing is left queued."""


class LimitError(SubmitError):
    """The request breaks a limit the cluster's discovery knows (a partition's time, its
    nodes' cores or memory): refused before the scheduler is asked, with what to choose."""


class RemoteEnvironmentError(ClusterlabError):
    """The remote side lacks Python or cloudpickle (the message says what to install)."""


class JobError(ClusterlabError):
    """A job ended without a result (time limit, out of memory, node failure, lost)."""

    def __init__(self, message: str, *, job_id: str = "", state: str = "", reason: str = ""):
        super().__init__(message)
        self.job_id = job_id
        self.state = state
        self.reason = reason


class RemoteError(ClusterlabError):
    """A remote exception whose class cannot be rebuilt here (e.g. its module is missing).

    ``type_name`` is the remote class (``"numpy.linalg.LinAlgError"``); the remote traceback
    is attached as ``__cause__`` like every other remote exception.
    """

    def __init__(self, type_name: str, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_message = message
        self.exit_code = exit_code  # set when the job called sys.exit(code)


class RemoteTraceback(Exception):
    """Carries the remote traceback text; set as ``__cause__`` of re-raised remote errors.

    Python prints a cause above the exception, so the user sees the remote frames first and
    the local line that asked for the result last, as ProcessPoolExecutor does.
    """

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\nRemote traceback:\n{self.tb}"""'


_FRAME = re.compile(r'^  File "(?P<file>.+)", line (?P<line>\d+), in (?P<name>.+)$')


def _cell_label(filename: str) -> str | None:
    """IPython's name for the code of a notebook cell ("Cell In[3]"), as its own tracebacks
    show it; None for a real file or outside IPython (IPython is never imported here)."""
    try:
        shell = sys.modules["IPython"].get_ipython()
        label = shell.compile.format_code_name(filename)
    except Exception:  # not in IPython, or an IPython without cell names
        return None
    return " ".join(label) if label else None


def _cell_line(filename: str, lineno: int) -> str:
    """Line ``lineno`` of code this kernel compiled from memory (a cell: its ``linecache``
    entry has no mtime), never of a file on disk, which may differ from the cluster's."""
    entry = linecache.cache.get(filename)
    if entry is None or len(entry) != 4 or entry[1] is not None:
        return ""
    lines = entry[2]
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""


def readable_traceback(text: str) -> str:
    """A remote traceback as this kernel can best show it.

    A frame in a notebook cell is named as IPython names it ("Cell In[3], line 4") and gets
    its source line from this kernel's ``linecache`` when the cluster had none to print: a
    function defined in a cell travels by value, without the cell's text. Everything else
    (other frames, the exception, chained tracebacks) is kept as the cluster wrote it.
    """
    lines = text.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        frame = _FRAME.match(line)
        if frame is None:
            out.append(line)
            continue
        filename, lineno = frame["file"], int(frame["line"])
        label = _cell_label(filename)
        out.append(f"  {label}, line {lineno}, in {frame['name']}" if label else line)
        if not (i + 1 < len(lines) and lines[i + 1].startswith("    ")):  # no source line
            source = _cell_line(filename, lineno)
            if source:
                out.append(f"    {source}")
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def for_the_user(exc: BaseException) -> bool:
    """Whether ``exc`` is meant for the user as it is: an error of ours whose message says
    what to do, a job's own exception (its remote traceback is its cause) or a cancelled
    job's. Anything else (a bug of ours) keeps its frames, to be reported."""
    return isinstance(exc, (ClusterlabError, concurrent.futures.CancelledError)) or isinstance(
        exc.__cause__, RemoteTraceback
    )


class OurFramesHidden:
    """``with OurFramesHidden():`` around the work of a public entry point (``f(x)``,
    ``job.result()``, ``%%cluster``): an error meant for the user leaves it without the
    frames of clusterlab's machinery, so a notebook shows the user's line and the sentence
    (and a job's remote traceback above it) instead of a page of internals.

    It works because an exception leaving a ``with`` block is raised again with the
    traceback it holds then, and the frames it then passes (the user's) are added anew;
    IPython's ``__tracebackhide__`` cannot do this, as it always shows the innermost frame.
    ``also``: more exception types to treat so (SyntaxError of a cell)."""

    def __init__(self, also: tuple[type[BaseException], ...] = ()) -> None:
        self.also = also

    def __enter__(self) -> OurFramesHidden:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is not None and (for_the_user(exc) or isinstance(exc, self.also)):
            exc.__traceback__ = None
        return False


def fixed_dependencies_error(what: str, name: str) -> ClusterlabError:
    """Dependencies are fixed at submission (the scheduler cannot add them later)."""
    return ClusterlabError(
        f"{what} is already submitted: dependencies are fixed at submission, as on a batch "
        "scheduler. "
        f"Declare them when submitting: {name}.after(a, b).submit(x), "
        f"{name}.submit(x, after=[a, b]) or {name}.map(items, after=[a])."
    )
