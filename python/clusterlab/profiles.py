"""The profile store: one TOML file, 0600, never holding a secret.

Every call re-reads the file, so a profile saved from the lab panel, the CLI or another
kernel is visible at once everywhere; writes are atomic so readers never see half a file.
"""

from __future__ import annotations

import builtins
import difflib
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import tomli_w

from .common.errors import ProfileError
from .config.paths import config_dir, locked, write_private
from .config.profile import LOCAL, Profile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_lock = threading.Lock()
_session_default: str | None = None


def path() -> Path:
    """The profiles file (``profiles.toml`` in :func:`clusterlab.config.paths.config_dir`)."""
    return config_dir() / "profiles.toml"


def _read() -> dict[str, dict[str, Any]]:
    p = path()
    if not p.exists():
        return {}
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(
            "file", f"{p} is not valid TOML ({exc}); fix or remove the file"
        ) from None
    profiles = data.get("profiles", {})
    return {str(k): dict(v) for k, v in profiles.items()}


def _write(profiles: dict[str, dict[str, Any]]) -> None:
    text = "# clusterlab profiles (edit with `clusterlab profile edit` or by hand)\n"
    text += tomli_w.dumps({"profiles": profiles})
    write_private(path(), text.encode())


def list() -> builtins.list[str]:  # the public API is cl.profiles.list()
    """Names of all profiles, the built-in ``local`` first."""
    names = sorted(_read())
    return ["local", *[n for n in names if n != "local"]]


def _unknown(name: object, known: builtins.list[str]) -> ProfileError:
    """The error for a name no profile has: the known ones, the closest (a typo such as
    'hcp' for 'hpc') and how to create it."""
    close = difflib.get_close_matches(str(name), known, n=1) if isinstance(name, str) else []
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    shown = name if isinstance(name, str) and name else "NAME"
    return ProfileError(
        "name",
        f"no profile named {name!r}{guess}; known profiles: {', '.join(known)}. To create "
        f"it: cl.profiles.save(cl.Profile(name={shown!r}, scheduler=..., ...)) or "
        f"`clusterlab profile add {shown}` (before the line that names it)",
    )


def require(name: str) -> str:
    """``name`` if a profile of that name exists (``local`` always does); else the
    :class:`~clusterlab.ProfileError` :func:`load` gives. Where a profile is named (``@cluster``,
    ``.options(profile=)``, ``%%cluster``) a typo fails there, not at the first call."""
    known = list()
    if not isinstance(name, str) or name not in known:
        raise _unknown(name, known)
    return name


def load(name: str) -> Profile:
    """The profile called ``name``; ``local`` exists even when nothing was saved."""
    stored = _read()
    if name in stored:
        return Profile.from_dict({**stored[name], "name": name})
    if name == "local":
        return LOCAL
    raise _unknown(name, list())


def save(profile: Profile) -> Profile:
    """Validate and store ``profile`` (replacing one of the same name)."""
    if not isinstance(profile, Profile):
        raise TypeError("profiles.save() takes a clusterlab.Profile")
    checked = Profile.from_dict(profile.to_dict())  # re-validate: fields may have been set
    with _lock, locked(path()):
        profiles = _read()
        profiles[checked.name] = {k: v for k, v in checked.to_dict().items() if k != "name"}
        _write(profiles)
    return checked


def delete(name: str) -> None:
    """Remove a saved profile; deleting ``local`` resets it to the built-in defaults."""
    with _lock, locked(path()):
        profiles = _read()
        if name not in profiles:
            if name == "local":
                return
            raise ProfileError("name", f"no profile named {name!r}; nothing was deleted")
        del profiles[name]
        _write(profiles)


def use(name: str | Profile) -> Profile:
    """Make ``name`` this session's default profile (``@cluster()`` without a name)."""
    global _session_default
    profile = name if isinstance(name, Profile) else load(name)
    _session_default = profile.name
    return profile


def default_name() -> str:
    """The session default set by :func:`use`, else ``local``."""
    return _session_default or "local"


def resolve(profile: str | Profile | None) -> Profile:
    """A Profile from a name, a Profile, or None (the session default)."""
    if isinstance(profile, Profile):
        return profile
    return load(profile or default_name())


def check(name: str | Profile, on_line: Any = None) -> Any:
    """Connect, find the scheduler, compare remote Python/cloudpickle with ours.

    Returns a :class:`clusterlab.CheckReport`; ``on_line(CheckLine)`` is called as each
    line is known so a form can show progress. Never raises for a failing check.
    """
    from .core.check import run_check

    return run_check(resolve(name), on_line=on_line)


def logout(name: str | Profile) -> bool:
    """End the profile's shared login for every notebook, the panel and the CLI on this
    machine (the next use asks again); True if one was running."""
    from .transports import logout as end

    return end(resolve(name))


def login(name: str | Profile) -> dict[str, Any]:
    """Log in now (answering prompts where the call came from) and say how: the panel's
    "Log in" action. Returns :func:`login_state`."""
    from .transports import get_transport

    profile = resolve(name)
    get_transport(profile).run(["true"])
    return login_state(profile)


def login_state(name: str | Profile) -> dict[str, Any]:
    """``{"shared": bool, "logged_in": bool, "expires": epoch | None, "methods": [...]}``
    without logging in (never prompts)."""
    from .transports.login_state import describe

    return describe(resolve(name))


def envs(name: str | Profile | None = None) -> builtins.list[dict[str, Any]]:
    """The synced environments (``environment="sync"``) on a profile's cluster: for each,
    its ``hash``, ``path``, whether it is ``ready``, when it was ``built``, its pinned
    ``packages`` and the ``tool`` that installed them (``uv`` or ``pip``). Also
    ``cl.envs()``."""
    from .core.envsync import list_envs
    from .core.runtime import get_runtime

    runtime = get_runtime(resolve(name))
    return list_envs(runtime.environment, runtime.jobs_root().rsplit("/", 1)[0])


def remove_env(digest: str, name: str | Profile | None = None) -> None:
    """Delete one synced environment (its ``hash`` from :func:`envs`); the next sync job
    with that lock builds it again."""
    from .core.envsync import remove_env as remove
    from .core.runtime import get_runtime

    runtime = get_runtime(resolve(name))
    remove(runtime.environment, runtime.jobs_root().rsplit("/", 1)[0], digest)


def job_script(
    name: str | Profile | None = None,
    map_tasks: int = 0,
    max_concurrent: int = 0,
    **resources: Any,
) -> str:
    """The batch script (Kubernetes: the manifest) a job of this profile would be submitted
    with (its default resources, overridden by ``resources``; a map of ``map_tasks`` tasks
    when given), without submitting or connecting: the job id and its directory are
    placeholders, and on a remote host ``~`` stays unexpanded. A request the scheduler
    cannot take is refused here as at submission."""
    from .config.resources import parse_resources
    from .core.preview import preview_script

    return preview_script(resolve(name), parse_resources(resources), map_tasks, max_concurrent)


def export(names: builtins.list[str] | None = None) -> str:
    """Profiles as TOML text to share or back up (no secrets: profiles never hold any)."""
    chosen = names or [n for n in list() if n in _read()]
    data = {name: {k: v for k, v in load(name).to_dict().items() if k != "name"} for name in chosen}
    return tomli_w.dumps({"profiles": data})


def import_profiles(text: str, overwrite: bool = False) -> builtins.list[Profile]:
    """Save the profiles in TOML ``text`` (from :func:`export`, a file or pasted text).

    Every profile is validated before any is saved, so a bad one saves nothing.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError("file", f"not valid TOML ({exc})") from None
    incoming = [
        Profile.from_dict({**fields, "name": name})
        for name, fields in dict(data.get("profiles", {})).items()
    ]
    if not incoming:
        raise ProfileError("file", "no [profiles.NAME] tables found")
    existing = set(_read())
    clashes = [p.name for p in incoming if p.name in existing]
    if clashes and not overwrite:
        raise ProfileError(
            "name",
            f"profile(s) {', '.join(clashes)} exist already; nothing was imported "
            "(pass overwrite=True to replace them)",
        )
    trusting = [p.name for p in incoming if p.trust_on_first_use]
    if trusting:
        warnings.warn(
            f"imported profile(s) {', '.join(trusting)} trust an SSH host key they have never "
            "seen (trust_on_first_use=True): the first connection cannot detect an impostor. "
            "Turn it off and add the host's key to known_hosts unless you trust the network.",
            stacklevel=2,
        )
    return [save(p) for p in incoming]


def duplicate(name: str, new_name: str) -> Profile:
    """A copy of profile ``name`` saved as ``new_name``."""
    if new_name in list():
        raise ProfileError("name", f"a profile named {new_name!r} exists already")
    return save(load(name).replace(name=new_name))
