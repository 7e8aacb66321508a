"""Exceptions a user can catch. Every message says what went wrong *and what to do*."""

from __future__ import annotations


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
