"""A profile's ``container``: the image a job's Python runs in, and the engine command.

The runner and the job's files stay on the host's file system; the container only
supplies the Python and its packages. So the command wraps the job's Python: the
directories the runner reads and writes (clusterlab's ``remote_dir``, holding the job
dir, the blobs and the inputs, and the working dir) are bound at the same paths, the
working directory is the job dir (the job script runs ``python runner.py "$JOB_DIR"``),
and the variables the job script exports are passed in:

- Apptainer / Singularity: ``apptainer exec --bind P1,P2 --pwd JOBDIR [--nv] IMAGE
  python`` (they pass the environment through and share the host's network);
- Podman / Docker: ``flock -s -o JOBDIR/container.lock podman run --rm -i --network host
  -v P:P ... -w JOBDIR -e CLUSTERLAB_OUTSIDE_LOCK=... -e NAME ... [--device
  nvidia.com/gpu=all | --gpus all] IMAGE python`` (``--network host`` as a batch job has;
  ``-e NAME`` without a value copies the variable from the job script). The container is
  the engine's, not the job's: the lock, held while the job's own processes live, lets
  the runner inside end when a scheduler SIGKILLs them (util-linux ``flock``).

Which engine: the profile's ``container_engine``, else the first of apptainer,
singularity, podman, docker found on the cluster (a ``.sif`` file only with apptainer or
singularity), found once per session and named by preflight.
"""

from __future__ import annotations

import re

from ..common import jobdir

ENGINES = ("apptainer", "singularity", "podman", "docker")
SIF_ENGINES = ("apptainer", "singularity")
ARCHIVES = ("oci-archive:", "docker-archive:")
# A registry image spelled as Apptainer (and podman) take it: 'docker://python:3.11' is
# Docker Hub's python:3.11 for every engine. The docker CLI and Kubernetes take the
# reference without it (both default to Docker Hub too).
DOCKER = "docker://"
# [registry[:port]/]path[:tag][@sha256:digest], as image references are written
_REF_RE = re.compile(
    r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[\w][\w.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?\Z"
)
EXAMPLE = (
    "e.g. 'docker.io/library/python:3.11-slim', '~/images/py311.sif' or "
    "'oci-archive:/shared/images/py311.tar'"
)


def is_file_image(image: str) -> bool:
    """A ``.sif`` file or an OCI/Docker archive, rather than a reference to a registry."""
    return image.startswith(("/", "~/", *ARCHIVES))


def check_image(text: str) -> None:
    """Raise ValueError with the sentence that fixes a bad ``container``."""
    path = text
    for prefix in ARCHIVES:
        if text.startswith(prefix):
            path = text[len(prefix) :]
            if not path.startswith(("/", "~/")):
                raise ValueError(f"give the archive after {prefix!r} as a full path, {EXAMPLE}")
    if path.startswith(("/", "~/")):
        if any(ch in path for ch in "\n\r\0,:") or "/../" in f"{path}/":
            raise ValueError(
                f"{path[:60]!r} is not one plain path (no ',', ':', '..' or line breaks: "
                f"the engines split their mount lists on them), {EXAMPLE}"
            )
        return
    if not _REF_RE.match(text.removeprefix(DOCKER)):
        raise ValueError(f"{text[:60]!r} is not an image reference or a file, {EXAMPLE}")


def registry_reference(image: str) -> str:
    """``image`` as the docker CLI and Kubernetes spell it: without ``docker://``."""
    return image.removeprefix(DOCKER)


def check_engine(text: str) -> None:
    if text not in ("auto", *ENGINES):
        raise ValueError(f"choose 'auto' or one of {', '.join(ENGINES)}")


def pick_engine(image: str, wanted: str, found: list[str]) -> str:
    """The engine to use: ``wanted`` unless 'auto', else the first usable one ``found``.
    Raises ValueError with what to do when none fits."""
    usable = SIF_ENGINES if image.endswith(".sif") else ENGINES
    if wanted != "auto":
        if wanted not in found:
            raise ValueError(
                f"container_engine is {wanted!r} but {wanted} is not on PATH there (after "
                "the profile's setup lines): add a setup line such as 'module load "
                f"{wanted}', or set container_engine='auto'"
            )
        if wanted not in usable:
            raise ValueError(f"{wanted} cannot run a .sif file: use apptainer or singularity")
        return wanted
    for engine in usable:
        if engine in found:
            return engine
    raise ValueError(
        f"no container engine found there ({' or '.join(usable)} on PATH after the setup "
        "lines): add a setup line such as 'module load apptainer', or run without container"
    )


def wrap(
    engine: str,
    image: str,
    python: list[str],
    binds: list[str] = (),  # type: ignore[assignment]
    pwd: str = "",
    env_names: list[str] = (),  # type: ignore[assignment]
    gpus: bool = False,
) -> list[str]:
    """The argv that runs ``python`` (its argv inside the image) in ``image``."""
    binds = list(dict.fromkeys(b for b in binds if b))
    if engine in SIF_ENGINES:
        if not is_file_image(image) and not image.startswith(DOCKER):
            image = DOCKER + image  # (a bare reference is a file name to apptainer)
        argv = [engine, "exec"]
        if binds:
            argv += ["--bind", ",".join(binds)]
        if pwd:
            argv += ["--pwd", pwd]
        if gpus:
            argv.append("--nv")
        return [*argv, image, *python]
    if engine == "docker":  # (podman, like apptainer, takes the docker:// transport)
        image = registry_reference(image)
    argv = [engine, "run", "--rm", "-i", "--network", "host"]
    for path in binds:
        argv += ["-v", f"{path}:{path}"]
    if pwd:
        # The container is the engine's: a SIGKILL of the job kills only the engine's
        # client. flock holds a shared lock on a job-dir file while the job's processes
        # live; the runner inside ends when it can lock it alone (remote/runner.py).
        lock = f"{pwd}/{jobdir.OUTSIDE_LOCK}"
        argv = ["flock", "-s", "-o", lock, *argv, "-w", pwd]
        argv += ["-e", f"{jobdir.OUTSIDE_LOCK_VAR}={lock}"]
    for name in dict.fromkeys(env_names):
        argv += ["-e", name]
    if gpus:
        argv += ["--device", "nvidia.com/gpu=all"] if engine == "podman" else ["--gpus", "all"]
    return [*argv, image, *python]
