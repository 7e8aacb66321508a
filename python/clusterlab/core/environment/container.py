"""The container a profile's jobs run in (``container=``): which engine, and its commands.

The engine is found once per session on the cluster (after the profile's env and setup
lines, as a job sees them) unless the profile names one; the command lines themselves are
:mod:`clusterlab.config.containerspec`'s.
"""

from __future__ import annotations

import shlex
import threading

from ...common.errors import RemoteEnvironmentError
from ...config import containerspec
from ...config.profile import Profile
from ...transports.base import Transport

# Which engines are programs on PATH: one name per line.
_WHICH = 'for c do command -v -- "$c" >/dev/null 2>&1 && printf "%s\\n" "$c"; done; exit 0'


class Container:
    """The image of ``profile.container`` and the engine that runs it there."""

    def __init__(self, profile: Profile, transport: Transport) -> None:
        self.profile = profile
        self.transport = transport
        self._engine = ""
        self._lock = threading.Lock()

    @property
    def image(self) -> str:
        """The image, a file's '~' expanded where jobs run."""
        image = self.profile.container
        for prefix in ("", *containerspec.ARCHIVES):
            rest = image[len(prefix) :]
            if image.startswith(prefix) and rest.startswith("~/"):
                return prefix + self.transport.expand(rest)
        return image

    def engine(self) -> str:
        """The engine's name (found once: one round trip)."""
        with self._lock:
            if not self._engine:
                exports = [f"export {k}={shlex.quote(v)}" for k, v in self.profile.env.items()]
                script = "\n".join([*exports, *self.profile.setup, _WHICH])
                res = self.transport.script(script, *containerspec.ENGINES)
                found = res.out.split()
                try:
                    self._engine = containerspec.pick_engine(
                        self.profile.container, self.profile.container_engine, found
                    )
                except ValueError as exc:
                    raise RemoteEnvironmentError(
                        f"cannot run the container {self.profile.container!r} on "
                        f"{self.transport.label}: {exc}"
                    ) from None
            return self._engine

    def wrap(
        self,
        python: list[str],
        binds: list[str] = (),  # type: ignore[assignment]
        pwd: str = "",
        env_names: list[str] = (),  # type: ignore[assignment]
        gpus: bool = False,
    ) -> list[str]:
        """``python`` (the interpreter inside the image) run in the container."""
        return containerspec.wrap(
            self.engine(), self.image, python, list(binds), pwd, list(env_names), gpus
        )

    def could_not_run(self, python: list[str], returncode: int, err: str) -> str:
        """The sentence for a probe that failed in the container: the engine's own words
        and the one command that shows, by hand, whether the engine or the image is at
        fault (the profile's python is the image's, so 'module load python' is no fix)."""
        engine = self.engine()
        by_hand = shlex.join([engine, "run", "--rm", self.image, *python, "-V"])
        if engine in containerspec.SIF_ENGINES:
            by_hand = shlex.join([engine, "exec", self.image, *python, "-V"])
        return (
            f"{engine} could not run {python[0]} in the image {self.image} on "
            f"{self.transport.label} (exit {returncode}: {err.strip()[-300:]}). Try "
            f"`{by_hand}` there as the profile's user: the image needs python3 with "
            "cloudpickle (or set the profile's python to the interpreter's path inside the "
            f"image), and {engine} must work for that user"
            + (" (rootless podman: `podman info`, and subuid/subgid ranges for the user)"
               if engine == "podman" else "")
            + "."
        )  # fmt: skip

    def no_cloudpickle(self, executable: str) -> str:
        """The sentence for an image whose Python lacks cloudpickle: a container starts
        from its image each time, so installing into it there would not last."""
        return (
            f"cloudpickle is not installed for {executable} in the image {self.image}: add it "
            "to the image (e.g. 'RUN python3 -m pip install cloudpickle' in its "
            "Containerfile, or `pip install cloudpickle` before `apptainer build`), or use "
            "an image that has it"
        )
