"""Turning a call into bytes and a result file back into a value or an exception.

cloudpickle serializes notebook functions, lambdas and closures *by value*, so the cluster
needs neither the notebook nor our package. When pickling fails we find the culprit and
name it, because "cannot pickle '_thread.lock' object" alone does not say which variable.
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
import types
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any

import cloudpickle

from ...common.errors import (
    RemoteEnvironmentError,
    RemoteError,
    RemoteTraceback,
    SerializationError,
    readable_traceback,
)
from ..environment.packages import missing_module_hint
from .localcode import shipped_by_value

MAX_PAYLOAD_BYTES = int(os.environ.get("CLUSTERLAB_MAX_PAYLOAD_MB", "2048")) * 1024 * 1024
_CODE_REDUCE = getattr(getattr(cloudpickle, "cloudpickle", None), "_code_reduce", None)


def _code_keeping_filename(code: types.CodeType) -> Any:
    """cloudpickle's reduction of a code object, with its file name kept. cloudpickle writes
    "<dynamic-code>" there; kept, a remote frame of a function defined in a cell names the
    cell, so the kernel can show the cell and its source line (the cluster has neither)."""
    ctor, args = _CODE_REDUCE(code)  # type: ignore[misc]
    spots = [i for i, a in enumerate(args) if isinstance(a, str) and a == "<dynamic-code>"]
    if spots:  # the first is co_filename (it comes before co_name in every layout)
        args = (*args[: spots[0]], code.co_filename, *args[spots[0] + 1 :])
    return ctor, args


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle (by value, as the cluster needs) that keeps code objects' file names."""

    if _CODE_REDUCE is not None:
        dispatch_table = ChainMap(
            {types.CodeType: _code_keeping_filename}, cloudpickle.Pickler.dispatch_table
        )


def _dumps(obj: Any) -> bytes:
    """Pickled by value where the cluster needs it: local modules go along (localcode)."""
    with shipped_by_value(obj), io.BytesIO() as buffer:
        _Pickler(buffer).dump(obj)
        return buffer.getvalue()


def _try(obj: Any) -> Exception | None:
    try:
        cloudpickle.dumps(obj)
    except Exception as exc:
        return exc
    return None


def _function_culprit(fn: Callable[..., Any]) -> str:
    """Name the global or closure variable that makes ``fn`` unpicklable, if we can."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    cells = dict(
        zip(code.co_freevars, [c.cell_contents for c in fn.__closure__ or ()], strict=False)
    )
    globals_ = getattr(fn, "__globals__", {})
    candidates = {**{n: globals_[n] for n in code.co_names if n in globals_}, **cells}
    for name, value in candidates.items():
        if _try(value) is not None:
            return f" (it uses {name!r}, a {type(value).__name__} that cannot be pickled)"
    return ""


def _function_error(fn: Callable[..., Any], err: Exception) -> SerializationError:
    name = getattr(fn, "__qualname__", repr(fn))
    return SerializationError(
        f"the function {name}() cannot be pickled{_function_culprit(fn)}: {err}. "
        "Create such objects inside the function instead of capturing them."
    )


def dumps_call(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    refs: Mapping[str, Any] | None = None,
) -> bytes:
    """cloudpickle ``(fn, args, kwargs, refs)``, naming exactly what cannot be pickled."""
    try:
        data = _dumps((fn, tuple(args), dict(kwargs), dict(refs or {})))
    except Exception as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        if (err := _try(fn)) is not None:
            raise _function_error(fn, err) from exc
        for i, value in enumerate(args):
            if (err := _try(value)) is not None:
                raise SerializationError(
                    f"argument {i} of {name}() ({type(value).__name__}) cannot be pickled: "
                    f"{err}. Pass plain data (numbers, arrays, paths) and open resources "
                    "inside the function."
                ) from exc
        for key, value in kwargs.items():
            if (err := _try(value)) is not None:
                raise SerializationError(
                    f"argument {key!r} of {name}() ({type(value).__name__}) cannot be "
                    f"pickled: {err}. Pass plain data and open resources inside the function."
                ) from exc
        raise SerializationError(f"the call to {name}() cannot be pickled: {exc}") from exc
    _check_size(data)
    return data


def dumps_function(fn: Callable[..., Any]) -> bytes:
    """The function of a ``map``, pickled once for all its items."""
    try:
        data = _dumps(fn)
    except Exception as exc:
        raise _function_error(fn, exc) from exc
    return data


def dumps_settings(what: str, value: Any) -> bytes:
    """Settings that hold the user's code (``on_signal=``, ``retry_on=``), pickled the way
    the function is (local modules by value)."""
    try:
        return _dumps(value)
    except Exception as exc:
        raise SerializationError(
            f"{what} cannot be sent to the cluster ({type(exc).__name__}: {exc}): give "
            "plain functions and classes"
        ) from exc


def dumps_items(name: str, items: list[tuple[int, tuple[Any, ...], dict[str, Any], Any]]) -> bytes:
    """One task's items ``(index, args, kwargs, refs)``, naming an item that cannot pickle."""
    try:
        data = _dumps(items)
    except Exception as exc:
        for index, args, _, _ in items:
            if (err := _try(args)) is not None:
                raise SerializationError(
                    f"item {index} of {name}.map() ({type(args[0]).__name__}) cannot be "
                    f"pickled: {err}. Map over plain data (numbers, paths, arrays)."
                ) from exc
        raise SerializationError(f"the items of {name}.map() cannot be pickled: {exc}") from exc
    _check_size(data)
    return data


def _check_size(data: bytes) -> None:
    if len(data) > MAX_PAYLOAD_BYTES:
        raise SerializationError(
            f"the function and its arguments pickle to {len(data) / 2**20:.0f} MiB, more than "
            f"the {MAX_PAYLOAD_BYTES // 2**20} MiB limit: put large data in a file on the "
            "cluster and pass its path (or raise CLUSTERLAB_MAX_PAYLOAD_MB)"
        )


def _rebuild(record: Mapping[str, Any]) -> BaseException:
    """The remote exception with its original type, or RemoteError when that is impossible."""
    exc: BaseException | None = None
    if record.get("exception") is not None:
        try:
            exc = pickle.loads(record["exception"])
        except Exception:
            exc = None
    if exc is None:
        module, _, qualname = str(record["type"]).rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), qualname)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                exc = cls(record["message"])
        except Exception:
            exc = None
    if exc is None:
        exc = RemoteError(str(record["type"]), str(record["message"]))
    elif not isinstance(exc, Exception):
        exc = _wrap_exit(exc)
    exc.__cause__ = RemoteTraceback(readable_traceback(str(record["traceback"])))
    return exc


def _wrap_exit(exc: BaseException) -> RemoteError:
    """SystemExit, KeyboardInterrupt (and other BaseExceptions) from the job must not end
    or interrupt this process: they become an error ``except Exception`` catches, saying
    what the job did and keeping its exit code."""
    name = type(exc).__name__
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        text = f" ({exc.code})" if exc.code is not None and not isinstance(exc.code, int) else ""
        return RemoteError(
            name,
            f"the job called sys.exit({code}){text} instead of returning: return a value "
            "(or raise an exception) to end a job; the exit code is in .exit_code",
            exit_code=code,
        )
    if isinstance(exc, KeyboardInterrupt):
        return RemoteError(name, "the job was interrupted on the cluster (SIGINT)")
    return RemoteError(name, f"the job raised {name}: {exc}")


def load_result(data: bytes | bytearray) -> tuple[bool, Any]:
    """``(True, value)`` or ``(False, exception to raise)`` from a ``result.pkl``."""
    try:
        kind, body = pickle.loads(data)
    except Exception as exc:
        return False, SerializationError(
            f"the job's result could not be unpickled here ({type(exc).__name__}: {exc}); a "
            "module the result needs is probably missing in this kernel"
        )
    if kind == "ok":
        return True, body
    if kind == "env_error":
        hint = missing_module_hint(str(body))
        return False, RemoteEnvironmentError(f"{body} {hint}".strip())
    rebuilt = _rebuild(body)
    if "ModuleNotFoundError" in str(body.get("type", "")) or "ImportError" in str(body["type"]):
        hint = missing_module_hint(str(body.get("message", "")))
        add_note = getattr(rebuilt, "add_note", None)  # Python 3.11+: shown under it
        if hint and add_note is not None:
            add_note(hint)
    return False, rebuilt
