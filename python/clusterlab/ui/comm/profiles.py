"""``profiles.*``: list, read, validate, save (and rename), delete and check profiles,
export and import them (TOML, no secrets) and set up an SSH key (as the ipywidgets form
does). ``profiles.check`` streams ``check.line`` pushes while it runs, and
``profiles.setup_key`` ``key.step`` pushes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ... import profiles as store
from ...common.errors import ProfileError
from ...config.profile import Profile
from .topic import Connection, Request, RequestError, Topic, profile_name, required


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


def export(data: dict[str, Any], rid: str) -> dict[str, Any]:
    """Every saved profile as TOML (never a secret: none is stored)."""
    return {"text": store.export()}


def import_(data: dict[str, Any], rid: str) -> dict[str, Any]:
    text = required(data, "text", "exported profiles (TOML)")
    try:
        saved = store.import_profiles(text)
    except ProfileError as exc:
        raise RequestError(f"nothing imported: {exc}") from None
    return {"profiles": [p.name for p in saved]}


def open_topic(conn: Connection) -> Topic:
    def setup_key(data: dict[str, Any], rid: str) -> dict[str, Any]:
        """Install a key with the password (used once, in this call only), check key
        login, save the profile with key_file; each step is pushed as ``key.step``."""
        from ...sshkeys import setup_ssh_key

        target = Profile.from_dict(_fields(data))
        password = required(data, "password", "the host password, used once")
        key_file = data.get("key_file") or "~/.ssh/id_ed25519"
        if not isinstance(key_file, str):
            raise RequestError("'key_file' must be a path such as ~/.ssh/id_ed25519")

        def on_step(text: str) -> None:
            conn.send("key.step", {"request": rid, "text": text})

        saved = setup_ssh_key(target, password, key_file=key_file, on_step=on_step)
        return {"profile": asdict(saved)}

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
            "profiles.export": Request(export),
            "profiles.import": Request(import_),
            "profiles.setup_key": Request(setup_key, slow=True),
        }
    )
