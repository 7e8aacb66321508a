"""``environment="sync"``: a cached environment on the cluster with this kernel's packages.

The lock is every distribution the functions sent import and this kernel has imported
(the kernel's own machinery left out unless shipped code uses it, see :mod:`.lock`),
their requirements, and cloudpickle, each pinned to the
version installed here; local or editable projects among them are built as wheels here and
pinned by their content. Its sha256 names ``<remote_dir>/envs/<hash>/``: a venv of the
cluster's Python, built once (``uv`` when the cluster has it, else ``venv`` + pip) in a
temp dir that is renamed into place and only then marked ``ready``, so a failed or
interrupted build leaves nothing that looks usable. Later jobs with the same lock start at
once (one ``test -f`` per session); a changed lock builds a new env.

Where the wheels come from: when the cluster runs this platform and Python minor version,
they come from this machine (:mod:`.lock`: the wheel cache, ``pip download``, ``pip
wheel`` for local projects, or repacked from the installed files) and are uploaded
through the content-addressed blob store, so compute nodes need no index and an
unchanged wheel is never sent twice; otherwise the cluster's own index is used (local
projects still travel as wheels). Locking only what is imported keeps the env small and
relevant; a package imported later, here or by a newly sent function, changes the lock (a
new env at the next submission).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import sysconfig
import time
from typing import TYPE_CHECKING, Any

from ...common.errors import RemoteEnvironmentError
from .buildevents import BuildProgress
from .lock import (
    Lock,
    build_wheels,
    make_lock,
    platform_cache,
    wheel_cache,
    wheel_for,
    wheels_for_platform,
)

if TYPE_CHECKING:
    from ..transfer.blobs import BlobStore
    from .remote import RemoteEnvironment

PROGRESS_PREFIX = "clusterlab"


# What the cluster's Python is: platform, minor version and whether uv is there.
_WHERE = (
    "import json, shutil, sys, sysconfig\n"
    "print(json.dumps({'platform': sysconfig.get_platform(), "
    "'python': '%d.%d' % sys.version_info[:2], 'uv': shutil.which('uv')}))\n"
)

# Build the env (stdlib only, run by the cluster's Python). One build per lock at a time:
# an exclusive flock on <envs>/.<hash>.lock, held for the whole build, so a second build
# of the same lock (another kernel, or a retry after the connection dropped) waits for the
# running one and then finds it ready: it joins instead of building again. Under the lock:
# a ready env is never touched; a venv in a temp dir next to the final one gets the wheels
# linked in from the blob store, installs, fixes script shebangs and is marked ready
# BEFORE it is renamed into place, so the final dir is ready from its first instant. A
# line is printed every HEARTBEAT s while it waits or installs (SSH gives up on a command
# silent for 120 s, while the build would go on), and the whole build is limited to
# spec["limit"] s. Any failure removes the temp dir; exit 3 with the reason.
_BUILD = r"""
import fcntl, json, os, shutil, subprocess, sys, tempfile, threading, time
spec = json.loads(sys.argv[1])
final = spec["dir"]
parent = os.path.dirname(final)
os.makedirs(parent, mode=0o700, exist_ok=True)
ready = os.path.join(final, "ready")
if os.path.exists(ready):
    sys.exit(0)
t0 = time.monotonic()
doing = ["waiting for the build of this environment that is already running"]
def say(text):
    try:
        print("clusterlab-build:", text, flush=True)
    except OSError:  # the client left (a dropped connection): the build goes on
        pass
def beat():
    while True:
        time.sleep(spec.get("heartbeat", 30))
        say("%s (%d s)" % (doing[0], time.monotonic() - t0))
threading.Thread(target=beat, daemon=True).start()
lock = os.open(os.path.join(parent, "." + os.path.basename(final) + ".lock"),
               os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    say(doing[0])
    fcntl.flock(lock, fcntl.LOCK_EX)
if os.path.exists(ready):  # the build this one waited for made it
    say("joined: built by the build that was running")
    sys.exit(0)
doing[0] = "installing"
tmp = tempfile.mkdtemp(prefix=".build-", dir=parent)
def run(argv):
    say("+ " + " ".join(argv[:6]) + " ...")
    left = spec["limit"] - (time.monotonic() - t0)
    try:
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=max(1.0, left))
    except subprocess.TimeoutExpired:
        raise RuntimeError("it took longer than %d s (the build's limit); nothing was kept"
                           % spec["limit"])
    if res.returncode != 0:
        raise RuntimeError(res.stdout[-2000:])
try:
    uv = spec.get("uv")
    if uv:  # never fetch an interpreter: the venv is of this Python
        os.environ["UV_PYTHON_DOWNLOADS"] = "never"
        run([uv, "venv", "--quiet", "--python", sys.executable, tmp])
    else:
        run([sys.executable, "-m", "venv", tmp])
    py = os.path.join(tmp, "bin", "python")
    wheels = os.path.join(tmp, "wheels")
    os.mkdir(wheels)
    for blob, name in spec["wheels"]:
        try:
            os.link(blob, os.path.join(wheels, name))
        except OSError:
            shutil.copyfile(blob, os.path.join(wheels, name))
    reqs = os.path.join(tmp, "requirements.txt")
    with open(reqs, "w") as fh:
        fh.write("\n".join(spec["pins"]) + "\n")
    source = ["--find-links", wheels, "--require-hashes"] + (
        ["--no-index"] if spec["offline"] else [])
    if uv:
        run([uv, "pip", "install", "--quiet", "--python", py] + source + ["-r", reqs])
    else:
        run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + source
            + ["-r", reqs])
    shutil.rmtree(wheels)
    bindir = os.path.join(tmp, "bin")
    for name in os.listdir(bindir):  # scripts name the temp dir: point them at the final one
        path = os.path.join(bindir, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        if data.startswith(b"#!") and tmp.encode() in data:
            with open(path, "wb") as fh:
                fh.write(data.replace(tmp.encode(), final.encode()))
    with open(os.path.join(tmp, "lock.txt"), "w") as fh:
        fh.write(spec["lock"])
    with open(os.path.join(tmp, "ready"), "w") as fh:
        fh.write(json.dumps({"built": time.time(), "packages": len(spec["pins"]),
                             "tool": "uv" if uv else "pip"}))
    if os.path.exists(final):  # not ready (checked under the lock): an older, broken try
        shutil.rmtree(final)
    os.rename(tmp, final)
except Exception as exc:
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"BUILD FAILED: {exc}", file=sys.stderr)
    sys.exit(3)
"""
BUILD_LIMIT = 3600.0  # seconds one build may take on the cluster (docs/remote-environment.md)
HEARTBEAT = 30.0  # seconds between the build's progress lines (SSH gives up after 120 s)


def _say(text: str) -> None:
    """Progress, where a notebook or terminal shows it (the build may take minutes)."""
    print(f"{PROGRESS_PREFIX}: {text}", file=sys.stderr, flush=True)


def ensure_synced(env: RemoteEnvironment, remote_dir: str, store: BlobStore) -> list[str]:
    """The python argv of this kernel's synced env under ``remote_dir/envs``, built now
    if the cluster does not have it yet (progress is printed while it builds)."""
    lock = make_lock()
    transport = env.transport
    envs = f"{remote_dir}/envs"
    # local projects change with their content: build their wheels before hashing
    if lock.local:
        build_wheels(Lock(lock.python, dict(lock.pins), dict(lock.local)), download=False)
        for key in lock.local:
            name, version = lock.pins[key]
            wheel = wheel_for(wheel_cache(), name, version)
            if wheel is not None:
                lock.local_wheels[key] = wheel
    final = f"{envs}/{lock.digest()}"
    python = [f"{final}/bin/python"]
    if transport.script('test -f "$1/ready"', final).returncode == 0:
        return python
    progress = BuildProgress(env.profile.name, lock.digest())
    progress.step("lock", f"checking the Python on {transport.label}")
    try:
        _build(env, lock, final, store, progress)
    except BaseException as exc:
        progress.failed(str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
        raise
    return python


def _build(
    env: RemoteEnvironment, lock: Lock, final: str, store: BlobStore, progress: BuildProgress
) -> None:
    """Build the env of ``lock`` into ``final`` (see the module doc), saying each step."""
    transport = env.transport
    started = time.monotonic()
    res = env.run_python(_WHERE)
    if res.returncode != 0:
        raise RemoteEnvironmentError(f"cannot run the cluster's Python: {res.err.strip()}")
    where: dict[str, Any] = json.loads(res.out.strip().splitlines()[-1])
    if where["python"] != lock.python:
        raise RemoteEnvironmentError(
            f"environment='sync' needs Python {lock.python} on the cluster (this kernel's "
            f"minor version); its Python is {where['python']}"
        )
    offline = where["platform"] == sysconfig.get_platform()
    tool = f"uv ({where['uv']})" if where.get("uv") else "venv + pip"
    _say(
        f"building the environment {lock.digest()} on {transport.label} "
        f"({len(lock.pins)} packages, {tool}, "
        "from wheels uploaded from here, pinned by sha256); "
        "this happens once per set of package versions"
    )
    progress.step("wheels", f"collecting the wheels of {len(lock.pins)} packages here")
    if offline:
        wheels = build_wheels(lock, download=True)
    else:
        wheels, lacking = wheels_for_platform(lock, where["platform"])
        if lacking:
            raise RemoteEnvironmentError(
                f"no wheel for the cluster's platform {where['platform']} of "
                f"{', '.join(lacking)}: clusterlab installs only packages it can pin by "
                "sha256 (wheels it has here). Installing these by name from the cluster's "
                "index would let whoever publishes that name there decide what runs "
                "(dependency confusion, for private package names). Put their wheels for "
                f"{where['platform']} in {platform_cache(where['platform'])} (`pip download "
                "--platform ... --only-binary=:all: -d DIR`), or install them on the "
                "cluster and use environment='existing'"
            )
    blobs: dict[str, bytes] = {}
    placed: list[tuple[str, str]] = []
    for wheel in wheels.values():
        data = wheel.read_bytes()
        name = hashlib.sha256(data).hexdigest() + ".whl"
        blobs[name] = data
        placed.append((f"{store.root}/{name}", wheel.name))
    sent_before = store.uploaded
    progress.step("upload", f"uploading the wheels the cluster lacks ({len(blobs)} in the lock)")
    store.upload(blobs)
    sent = store.uploaded - sent_before
    _say(
        f"uploaded {sent / 1024:.0f} KiB of wheels ({len(blobs)} wheels in the lock; those "
        "already on the cluster were not sent)"
    )
    # Every pin with the sha256 of the wheel uploaded for it: pip (and uv) then refuse
    # anything else, whatever an index or a stray file in the wheels dir offers.
    digests = {key: hashlib.sha256(w.read_bytes()).hexdigest() for key, w in wheels.items()}
    # (A pin without a wheel keeps no hash, and --require-hashes makes the install fail.)
    pins = [
        f"{name}=={version}" + (f" --hash=sha256:{digests[key]}" if key in digests else "")
        for key, (name, version) in lock.pins.items()
    ]
    spec = {
        "dir": final,
        "pins": pins,
        "wheels": placed,
        "offline": True,  # every pin has its wheel here (else refused above)
        "uv": where.get("uv"),
        "lock": lock.text(),
        "limit": BUILD_LIMIT,
        "heartbeat": HEARTBEAT,
    }
    progress.step("install", f"installing {len(pins)} packages with {tool} on {transport.label}")
    res = env.run_python(_BUILD, json.dumps(spec), timeout=BUILD_LIMIT + 120)
    if res.returncode != 0:
        raise RemoteEnvironmentError(
            f"building the environment {final} on {transport.label} failed; nothing was "
            f"kept: {(res.err or res.out).strip()[-1500:]}"
        )
    took = time.monotonic() - started
    _say(f"environment {lock.digest()} ready in {took:.1f} s: {final}")
    progress.step("ready", f"ready in {took:.1f} s")


def list_envs(env: RemoteEnvironment, remote_dir: str) -> list[dict[str, Any]]:
    """The synced envs of a profile's ``remote_dir``: hash, path, packages, built, ready,
    and the tool that installed them (``uv`` or ``pip``; None for older envs)."""
    res = env.run_python(_LIST, f"{remote_dir}/envs")
    if res.returncode != 0:
        raise RemoteEnvironmentError(f"cannot list {remote_dir}/envs: {res.err.strip()}")
    out: list[dict[str, Any]] = json.loads(res.out.strip().splitlines()[-1])
    return out


_LIST = r"""
import json, os, sys
root = sys.argv[1]
out = []
for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
    path = os.path.join(root, name)
    if name.startswith(".") or not os.path.isdir(path):
        continue
    info = {}
    try:
        with open(os.path.join(path, "ready")) as fh:
            info = json.load(fh)
    except (OSError, ValueError):
        pass
    lock = ""
    try:
        with open(os.path.join(path, "lock.txt")) as fh:
            lock = fh.read()
    except OSError:
        pass
    out.append({"hash": name, "path": path, "ready": bool(info), "built": info.get("built"),
                "tool": info.get("tool"),
                "packages": [ln for ln in lock.splitlines() if ln and not ln.startswith("#")]})
print(json.dumps(out))
"""


def remove_env(env: RemoteEnvironment, remote_dir: str, digest: str) -> None:
    """Delete one synced env (only a hash-named dir under ``remote_dir/envs``)."""
    if not re.fullmatch(r"[0-9a-f]{16}", digest):
        raise ValueError(f"{digest!r} is not an environment hash (16 hex digits, see cl.envs())")
    res = env.transport.run(["rm", "-rf", "--", f"{remote_dir}/envs/{digest}"])
    if res.returncode != 0:
        raise RemoteEnvironmentError(f"could not remove {digest}: {res.err.strip()}")
