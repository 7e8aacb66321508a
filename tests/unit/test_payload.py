from __future__ import annotations

import pickle
import threading

import cloudpickle
import pytest

import clusterlab as cl
from clusterlab.core.transfer.payload import dumps_call, load_result


def test_closure_and_lambda_pickle_by_value() -> None:
    k = 7
    payload = dumps_call(lambda x, y=1: x * k + y, (3,), {"y": 2})
    fn, args, kwargs, refs = cloudpickle.loads(payload)
    assert refs == {}
    assert fn(*args, **kwargs) == 23


def test_unpicklable_positional_argument_is_named() -> None:
    def f(a: object, b: object) -> None: ...

    with pytest.raises(cl.SerializationError, match=r"argument 1 of .*f\(\) \(lock\)"):
        dumps_call(f, (1, threading.Lock()), {})


def test_unpicklable_keyword_argument_is_named() -> None:
    with pytest.raises(cl.SerializationError, match="argument 'handle'"):
        dumps_call(print, (), {"handle": threading.Lock()})


def test_unpicklable_captured_variable_is_named() -> None:
    lock = threading.Lock()

    def uses_lock() -> None:
        with lock:
            pass

    with pytest.raises(cl.SerializationError, match="it uses 'lock'"):
        dumps_call(uses_lock, (), {})


def test_result_ok_and_remote_exception_rebuilt() -> None:
    assert load_result(cloudpickle.dumps(("ok", {"a": 1}))) == (True, {"a": 1})
    record = {
        "type": "builtins.KeyError",
        "message": "'x'",
        "traceback": "Traceback...\nKeyError: 'x'\n",
        "exception": cloudpickle.dumps(KeyError("x")),
    }
    ok, exc = load_result(cloudpickle.dumps(("error", record)))
    assert not ok
    assert type(exc) is KeyError
    assert isinstance(exc.__cause__, cl.RemoteTraceback) and "KeyError" in exc.__cause__.tb


def test_exception_of_unknown_class_becomes_remote_error() -> None:
    record = {
        "type": "nosuchmodule.FancyError",
        "message": "boom",
        "traceback": "tb",
        "exception": None,
    }
    ok, exc = load_result(pickle.dumps(("error", record)))
    assert not ok
    assert isinstance(exc, cl.RemoteError) and exc.type_name == "nosuchmodule.FancyError"
    assert str(exc) == "nosuchmodule.FancyError: boom"


def test_exception_rebuilt_from_type_name_when_not_picklable() -> None:
    record = {"type": "builtins.ValueError", "message": "bad", "traceback": "tb", "exception": None}
    ok, exc = load_result(pickle.dumps(("error", record)))
    assert not ok
    assert type(exc) is ValueError and str(exc) == "bad"


def test_env_error_is_remote_environment_error() -> None:
    ok, exc = load_result(pickle.dumps(("env_error", "cloudpickle is not installed")))
    assert not ok
    assert isinstance(exc, cl.RemoteEnvironmentError)
