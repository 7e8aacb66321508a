"""Rootless podman for the sandbox's SSH user, so jobs that run as that user (``direct``
over SSH, Grid Engine) can use ``container=`` with the offline-built test image.

What a site admin does once for a cluster user, done idempotently by the fixture that
needs it (never by clusterlab): subordinate uid/gid ranges in /etc/subuid and /etc/subgid,
a ``~/.config/containers/containers.conf`` with this machine's quirks (runc and cgroupfs:
crun refuses the hybrid cgroup v1 here; see :func:`podman_image.containers_conf`), and the
image loaded into the user's own storage (``podman save`` as root piped into ``podman
load`` as the user: no registry).

The user's podman runs as sshd and sge_execd start it: no systemd login session, so no
``XDG_RUNTIME_DIR``; podman then keeps its run root in ``/tmp/podman-run-<uid>``, and its
events go to a file (``events_logger = "file"``: there is no journald either).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from . import podman_image

_RANGE = 65536


def _as_user(user: str, *argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``argv`` as ``user`` with a login-like environment and nothing of root's (a root
    XDG_RUNTIME_DIR or CONTAINERS_CONF would point the user's podman at root's files)."""
    entry = pwd.getpwnam(user)
    env = [f"HOME={entry.pw_dir}", f"USER={user}", f"LOGNAME={user}", "PATH=/usr/bin:/bin"]
    return subprocess.run(
        ["runuser", "-u", user, "--", "env", "-i", *env, *argv],
        capture_output=True,
        text=True,
        cwd="/",
        **kwargs,  # type: ignore[call-overload]
    )


def _ranges(path: Path) -> list[tuple[str, int, int]]:
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def ensure_subids(user: str) -> None:
    """``user`` owns 65536 subordinate uids and gids (rootless podman maps the image's
    uids onto them); a range after every existing one when the user has none."""
    uid = pwd.getpwnam(user).pw_uid
    for path, flag in (
        (Path("/etc/subuid"), "--add-subuids"),
        (Path("/etc/subgid"), "--add-subgids"),
    ):
        ranges = _ranges(path)
        if any(name in (user, str(uid)) and count >= _RANGE for name, _, count in ranges):
            continue
        start = max([100000, *(first + count for _, first, count in ranges)])
        subprocess.run(["usermod", flag, f"{start}-{start + _RANGE - 1}", user], check=True)


def write_conf(user: str) -> Path:
    """The user's containers.conf (0600 in a 0700 dir, owned by the user), replaced in one
    rename and only when it differs: jobs of other test sessions may be reading it."""
    entry = pwd.getpwnam(user)
    conf_dir = Path(entry.pw_dir) / ".config" / "containers"
    for path in (conf_dir.parent, conf_dir):
        path.mkdir(mode=0o700, exist_ok=True)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o700)
    conf = conf_dir / "containers.conf"
    tmp = podman_image.containers_conf(conf_dir / f".containers.conf.{os.getpid()}")
    with tmp.open("a") as fh:
        fh.write('events_logger = "file"\n')  # (in [engine]: no journald here)
    if conf.exists() and conf.read_text() == tmp.read_text():
        tmp.unlink()
        return conf
    os.chown(tmp, entry.pw_uid, entry.pw_gid)
    tmp.chmod(0o600)
    os.replace(tmp, conf)
    return conf


def ensure(user: str, work: Path) -> str:
    """The test image in ``user``'s rootless podman, ready to run; returns its name.
    Raises RuntimeError with podman's own words when rootless podman cannot work here."""
    if shutil.which("podman") is None:
        raise RuntimeError("podman is not installed: apt-get install podman runc uidmap")
    ensure_subids(user)
    write_conf(user)
    image = podman_image.IMAGE
    if _as_user(user, "podman", "image", "exists", image).returncode != 0:
        podman_image.build(work)  # in root's storage (as the local tests use it)
        save = subprocess.Popen(["podman", "save", image], stdout=subprocess.PIPE)
        load = _as_user(user, "podman", "load", stdin=save.stdout)
        assert save.stdout is not None
        save.stdout.close()
        if save.wait() != 0 or load.returncode != 0:
            raise RuntimeError(
                f"could not load {image} into {user}'s podman: {load.stderr.strip()[-500:]}"
            )
    # --network host, as clusterlab runs it (a batch job's network; no slirp4netns here)
    run = ("podman", "run", "--rm", "--network", "host", image)
    probe = _as_user(user, *run, "python3", "-c", "print('ok')")
    if probe.returncode != 0 or probe.stdout.strip() != "ok":
        raise RuntimeError(
            f"rootless podman cannot run {image} as {user}: "
            f"{(probe.stderr or probe.stdout).strip()[-500:]}"
        )
    return image


def remove_containers(user: str, needle: str) -> None:
    """Remove ``user``'s containers whose command names ``needle`` (a job's id): a
    scheduler's kill that also ends podman's monitor (Grid Engine kills every process of
    the job's group id, conmon's too) leaves podman's record of the ended container, and
    its copy of the image, behind."""
    listing = ("podman", "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}")
    out = _as_user(user, *listing).stdout
    ids = [line.split()[0] for line in out.splitlines() if needle in line]
    if ids:
        _as_user(user, "podman", "rm", "-f", *ids)
