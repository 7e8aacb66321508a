"""``profiles.*``: list, read, validate, save (and rename), delete and check profiles.
``profiles.check`` streams ``check.line`` pushes while it runs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ... import profiles as store
from ...common.errors import ProfileError
from ...config.profile import Profile
from .topic import Connection, Request, RequestError, Topic, profile_name


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    fields = data.get("profile")
    if not isinstance(fields, dict):
        raise RequestError("'profile' must be an object of profile fields")
    return fields


def list_(data: dict[str, Any], rid: str) -> dict[str, Any]:
    items = []
    for name in store.list():
        p = store.load(name)
        items.append({**asdict(p), "builtin": name == "local"})
    return {"profiles": items}


def get(data: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"profile": asdict(store.load(profile_name(data)))}


def validate(data: dict[str, Any], rid: str) -> dict[str, Any]:
    fields = _fields(data)
    try:
        Profile.from_dict(fields)
    except ProfileError as exc:
        return {"valid": False, "errors": exc.errors}
    return {"valid": True, "errors": {}}


def save(data: dict[str, Any], rid: str) -> dict[str, Any]:
    fields = _fields(data)
    original = data.get("original")
    if original is not None and not isinstance(original, str):
        raise RequestError("'original' must be the old name of a renamed profile, e.g. 'hpc'")
    saved = store.save(Profile.from_dict(fields))
    # A rename: drop the old name, unless it is gone already (deleted elsewhere).
    if original and original not in (saved.name, "local") and original in store.list():
        store.delete(original)
    return {"profile": asdict(saved)}


def delete(data: dict[str, Any], rid: str) -> dict[str, Any]:
    store.delete(profile_name(data))
    return {}


def open_topic(conn: Connection) -> Topic:
    def check(data: dict[str, Any], rid: str) -> dict[str, Any]:
        if isinstance(data.get("profile"), dict):
            target: str | Profile = Profile.from_dict(data["profile"])
        else:
            target = profile_name(data)

        def on_line(line: Any) -> None:
            conn.send("check.line", {"request": rid, "line": asdict(line)})

        report = store.check(target, on_line=on_line)
        return {"report": report.to_dict()}

    return Topic(
        {
            "profiles.list": Request(list_),
            "profiles.get": Request(get),
            "profiles.validate": Request(validate),
            "profiles.save": Request(save),
            "profiles.delete": Request(delete),
            "profiles.check": Request(check, slow=True),
        }
    )
