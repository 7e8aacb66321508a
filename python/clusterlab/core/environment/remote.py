"""The remote environment probe, in one place: which Python a job gets (after the
profile's setup lines) and whether it can load what the kernel sends.

Submission asks once per runtime (and refuses early, with the fix, when cloudpickle is
missing); ``cl.profiles.check`` reports the same facts line by line.
"""

from __future__ import annotations

import json
import shlex
import sys
import threading
from typing import TYPE_CHECKING, Any

from ...common import kinds as registry
from ...common.errors import RemoteEnvironmentError
from ...config.profile import Profile
from ...config.pythonspec import python_command, tool_of
from ...transports.base import CommandResult, Transport
from . import packages
from .container import Container

if TYPE_CHECKING:
    from ..transfer.blobs import BlobStore

# One round trip answers what a job's Python is: its version, executable, cloudpickle and,
# with "--packages", every installed distribution (name -> version), stdlib only.
_PROBE = """\
import sys, json
try:
    import cloudpickle; cp = cloudpickle.__version__
except ImportError:
    cp = None
out = {'python': '%d.%d.%d' % sys.version_info[:3], 'cloudpickle': cp,
       'executable': sys.executable}
if '--packages' in sys.argv[1:]:
    from importlib import metadata
    dists = {}
    for d in metadata.distributions():
        name = d.metadata['Name']
        if name:
            dists[name.lower().replace('_', '-').replace('.', '-')] = d.version
    out['packages'] = dists
print(json.dumps(out))
"""


def python_argv(profile: Profile, transport: Transport) -> list[str]:
    """The job's interpreter: the profile's, else ``python3`` on a remote host, else this
    kernel's own Python on this machine."""
    if profile.python:  # a command line, or a conda/mamba/pixi env run by its tool
        return python_command(profile.python, transport.expand)
    return ["python3"] if profile.is_remote or profile.container else [sys.executable]


def minor_mismatch(remote_version: str) -> str:
    """The sentence a job is refused with when the cluster's Python is another minor
    version than this kernel's ('' when they agree)."""
    local = ".".join(map(str, sys.version_info[:2]))
    remote = ".".join(remote_version.split(".")[:2])
    if remote == local:
        return ""
    return (
        f"the cluster's Python is {remote_version} but this kernel runs "
        f"{sys.version.split()[0]}: a function pickled here cannot be loaded by Python "
        f"{remote} (bytecode differs between minor versions). Point the profile's python "
        f"at a Python {local} there, or add a setup line that provides one (e.g. "
        f"'module load python/{local}'), or run this notebook with Python {remote}."
    )


class RemoteEnvironment:
    """What a profile's jobs run with, probed over its transport."""

    def __init__(self, profile: Profile, transport: Transport) -> None:
        self.profile = profile
        self.transport = transport
        self._checked = False
        self._lock = threading.Lock()
        self.info: dict[str, Any] = {}  # the last probe's answer
        self.sync_python: list[str] | None = None  # the synced env of the current lock
        self._sync_modules: frozenset[str] = frozenset()  # top-level modules it was locked at
        # A kind whose jobs are containers already (Kubernetes' pods) runs `container` as
        # its image itself: no engine around the job's Python there.
        wrapped = profile.container and not registry.get(profile.scheduler).runs_in_image
        self.container = Container(profile, transport) if wrapped else None

    def python_argv(self, environment: str | None = None) -> list[str]:
        """The argv of the job's Python: the synced env's once built (``sync``), else the
        profile's (see :func:`python_argv`)."""
        if (environment or self.profile.environment) == "sync" and self.sync_python:
            return list(self.sync_python)
        return python_argv(self.profile, self.transport)

    def probe(self, jobs_root: str | None = None, packages: bool = False) -> dict[str, Any]:
        """Run the job's Python (after the setup lines); report its version, executable and
        cloudpickle version (None when missing), and with ``packages`` its installed
        distributions. With ``jobs_root``, the same round trip first checks that directory
        as :func:`check_jobs_root` does."""
        script = self.preamble()
        command = self.contained(python_argv(self.profile, self.transport))
        argv = [*command, "-c", _PROBE]
        if packages:
            argv.append("--packages")
        if jobs_root is None:
            res = self.transport.script(script, *argv)
        else:
            res = self.transport.script(_SAFE_DIR + "shift\n" + script, jobs_root, *argv)
            _dir_verdict(self.transport, jobs_root, res)
        found = tool_of(self.profile.python)
        if res.returncode != 0 and found is not None:
            tool, target = found
            raise RemoteEnvironmentError(
                f"`{shlex.join(command)}` could not run on "
                f"{self.transport.label} (exit {res.returncode}: {res.err.strip()[-300:]}). "
                f"{tool} must be a program on PATH after the profile's setup lines (add one "
                f"such as 'export PATH=$HOME/miniconda3/condabin:$PATH'; a shell function "
                f"from `{tool} init` is not enough), and the environment {target!r} must "
                f"exist there with python in it (`{tool} env list`)."
            )
        if res.returncode != 0 and self.container is not None:
            python = python_argv(self.profile, self.transport)
            raise RemoteEnvironmentError(
                self.container.could_not_run(python, res.returncode, res.err)
            )
        if res.returncode != 0:
            raise RemoteEnvironmentError(
                f"{argv[0]} could not run on {self.transport.label} "
                f"(exit {res.returncode}: {res.err.strip()[-300:]}). Set the profile's python "
                "to an interpreter that exists there, or add setup lines such as "
                "'module load python/3.11'."
            )
        info: dict[str, Any] = json.loads(res.out.strip().splitlines()[-1])
        self.info = info
        return info

    def preamble(self) -> str:
        """What runs before the job's Python, as in its script: the profile's env
        (quoted), then its setup lines; then ``exec "$@"``."""
        exports = [f"export {k}={shlex.quote(v)}" for k, v in self.profile.env.items()]
        return "\n".join([*exports, *self.profile.setup, 'exec "$@"'])

    def contained(self, python: list[str], binds: list[str] = ()) -> list[str]:  # type: ignore[assignment]
        """``python`` as it runs: in the profile's container (``binds`` mounted), if any."""
        return self.container.wrap(python, binds) if self.container else python

    def run_python(self, code: str, *args: str, timeout: float | None = None) -> CommandResult:
        """Run a stdlib ``code`` with the job's Python (after the setup lines): one trip.
        In a container, the absolute paths among ``args`` are bound. ``timeout``: for a
        command known to be long (an env build), else the default."""
        script = self.preamble()
        python = self.contained(self.python_argv(), [a for a in args if a.startswith("/")])
        return self.transport.run(["sh", "-c", script, "sh", *python, "-c", code, *args],
                                  timeout=timeout)  # fmt: skip

    def ensure(
        self, jobs_root: str, environment: str | None = None, store: BlobStore | None = None
    ) -> None:
        """Once per runtime, before the first submission: the jobs root is private (see
        :func:`check_jobs_root`) and, when jobs run another Python than this kernel's (a
        remote host, or a local profile's python), it has cloudpickle and this kernel's minor
        version, else the job is refused with the fix. One round trip for both. With
        ``environment='sync'``, the synced environment is built (once) or reused."""
        if (environment or self.profile.environment) == "sync" and self.container:
            raise RemoteEnvironmentError(
                "environment='sync' builds a venv of the cluster's Python; with a "
                "container the image holds the packages: use environment='existing' "
                "(and an image with what the functions import), or no container"
            )
        tool = tool_of(self.profile.python)
        if (environment or self.profile.environment) == "sync" and tool is not None:
            raise RemoteEnvironmentError(
                f"environment='sync' builds a venv, not a {tool[0]} environment: with "
                f"python={self.profile.python!r} use environment='existing' and install "
                f"what preflight lists into {tool[1]!r} ({tool[0]} install ...)"
            )
        with self._lock:  # one probe even when many threads submit at once
            if not self._checked:
                # Jobs of a login node (SLURM without a host) run on other nodes, whose
                # Python this machine's may not be; a local profile's python runs here.
                here = not registry.get(self.profile.scheduler).remote
                if self.profile.is_remote or ((self.profile.python or self.container) and here):
                    self._verify(self.probe(jobs_root))
                else:
                    check_jobs_root(self.transport, jobs_root)
                self._checked = True
            if (environment or self.profile.environment) == "sync":
                # The lock is what the shipped code and the kernel import: locked again
                # (~0.1 s, and one `test -f` there) only when either grew since.
                modules = self._lock_key()
                if self.sync_python is None or modules != self._sync_modules:
                    from .sync import ensure_synced  # the build is its own module

                    assert store is not None, "a sync env uploads through the blob store"
                    remote_dir = jobs_root.rsplit("/", 1)[0]
                    self.sync_python = ensure_synced(self, remote_dir, store)
                    # (after the build, whose own stdlib imports must not look new)
                    self._sync_modules = self._lock_key()

    @staticmethod
    def _lock_key() -> frozenset[str]:
        """What the lock is made of: the kernel's top-level modules and the distributions
        the shipped code needs (a new function importing a new package changes it)."""
        shipped = {f"shipped:{key}" for key in packages.shipped_distributions()}
        return frozenset(m for m in sys.modules if "." not in m) | shipped

    def _verify(self, info: dict[str, Any]) -> None:
        if info["cloudpickle"] is None and self.container is not None:
            raise RemoteEnvironmentError(self.container.no_cloudpickle(info["executable"]))
        if info["cloudpickle"] is None:
            raise RemoteEnvironmentError(
                f"cloudpickle is not installed for {info['executable']} on "
                f"{self.transport.label}: run `{info['executable']} -m pip install --user "
                "cloudpickle` there, or point the profile's python at an environment with it"
            )
        problem = minor_mismatch(info["python"])
        if problem:
            raise RemoteEnvironmentError(problem)


# The jobs root and every directory above it must be owned by the login user or root and
# not writable by others (a sticky directory such as /tmp is fine), or another user could
# swap a job dir and have this kernel unpickle their file; the check OpenSSH's StrictModes
# makes for ~/.ssh. Exit 3: cannot create; 4: unsafe (stdout says which and why).
_SAFE_DIR = r"""
uid=$(id -u)
d=$1
(umask 077; mkdir -p -- "$d") && chmod 700 -- "$d" || { echo "cannot create $d"; exit 3; }
while :; do
  info=$(stat -c '%u %a' -- "$d") || { echo "cannot inspect $d"; exit 3; }
  owner=${info% *}
  mode=${info#* }
  if [ "$owner" != "$uid" ] && [ "$owner" != 0 ]; then
    echo "$d is owned by another user (uid $owner)"; exit 4
  fi
  if [ $(( 0$mode & 022 )) -ne 0 ] && [ $(( 0$mode & 01000 )) -eq 0 ]; then
    echo "$d is writable by other users (mode $mode)"; exit 4
  fi
  [ "$d" = / ] && break
  d=$(dirname -- "$d")
done
"""


def check_jobs_root(transport: Transport, root: str) -> None:
    """Create ``root`` (0700) and refuse, with the fix, a path others could tamper with."""
    res = transport.script(_SAFE_DIR, root)
    _dir_verdict(transport, root, res)


def _dir_verdict(transport: Transport, root: str, res: CommandResult) -> None:
    if res.returncode == 4:
        raise RemoteEnvironmentError(
            f"refusing to use {root} on {transport.label}: {res.out.strip()}, so another "
            "user could replace job files that this kernel then loads. Fix the directory "
            "(e.g. `chmod go-w DIR`) or point the profile's remote_dir somewhere private."
        )
    if res.returncode == 3:
        raise RemoteEnvironmentError(
            f"cannot use {root} on {transport.label}: {(res.out + res.err).strip()}. Check "
            "the profile's remote_dir (free space, permissions)."
        )
