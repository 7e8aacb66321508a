"""The entry point of a clusterlab pod on Kubernetes: stdlib only, shipped in the job's Secret.

A pod shares no file system with the kernel, so this program stands between the two:

1. it copies the job's files from the Secret volume (read-only, mounted inside the job's
   ``emptyDir``) into the job directory, at the same absolute path as on the kernel's
   machine, and the results of earlier jobs this one reads (``clusterlab.json`` says which
   key goes where);
2. it runs ``runner.py JOB_DIR [TASK]`` (the task from ``JOB_COMPLETION_INDEX``), its
   stdout and stderr into files, after the profile's setup lines when there are any;
3. while the runner runs, and once more when it ended, it prints what the runner wrote
   (status lines, stdout, stderr, result files) to the container's log as frames, one per
   line: ``@cl1 NAME OFFSET BASE64`` (a piece of a file at that offset) and
   ``@cl1 NAME = SIZE`` (a result file is complete). The kernel reads the pod's log
   through the API and puts the pieces back at their offsets in its copy of the job dir.

A result file is always framed before the status line that announces it, so a kernel that
sees "finished" already has the result. The pod's log is kept by the kubelet only up to
``containerLogMaxSize`` (10 MiB by default), so output beyond a cap is not framed (a note
says so) and a result over :data:`RESULT_CAP` is replaced by an error that says why.

Exit code: the runner's (128+N when a signal N ended it), so Kubernetes agrees with the
status file. SIGTERM (cancel, eviction, the pod's deadline) is passed on to the runner,
which records it, and the last frames are still printed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

MAGIC = "@cl1"
CHUNK = 3 * 1024  # raw bytes per frame: base64 lines stay under the runtime's 16 KiB split
PUMP_SECONDS = 0.25
OUTPUT_CAP = {"stdout": 2 * 1024 * 1024, "stderr": 1024 * 1024}
RESULT_CAP = 3 * 1024 * 1024  # result bytes one pod may send back through its log
CONFIG = "clusterlab.json"


def _note(cap: int) -> bytes:
    return (
        f"\n[clusterlab: output past {cap // (1024 * 1024)} MiB is not brought back from "
        "Kubernetes (pod logs are capped); write large output to files or storage]\n"
    ).encode()


def frame(name: str, offset: int, data: bytes) -> None:
    """Print ``data`` of file ``name`` at ``offset`` as frames."""
    for start in range(0, len(data), CHUNK):
        piece = base64.b64encode(data[start : start + CHUNK]).decode()
        sys.stdout.write(f"{MAGIC} {name} {offset + start} {piece}\n")
    sys.stdout.flush()


class Forwarder:
    """What was forwarded of each file, and the rules for what may follow."""

    def __init__(self, job_dir: str, task: str | None) -> None:
        self.job_dir = job_dir
        self.suffix = "" if task is None else f".{task}"
        self.read: dict[str, int] = {}  # file name -> bytes read from the pod's file
        self.sent: dict[str, int] = {}  # file name -> bytes in the forwarded stream
        self.capped: set[str] = set()
        self.results_sent = 0
        self.done_results: set[str] = set()

    def _new(self, name: str) -> bytes:
        try:
            with open(os.path.join(self.job_dir, name), "rb") as fh:
                fh.seek(self.read.get(name, 0))
                return fh.read()
        except OSError:
            return b""

    def _send(self, name: str, data: bytes) -> None:
        if data:
            frame(name, self.sent.get(name, 0), data)
            self.sent[name] = self.sent.get(name, 0) + len(data)

    def output(self, stream: str) -> None:
        name = stream + self.suffix
        data = self._new(name)
        self.read[name] = self.read.get(name, 0) + len(data)
        if name in self.capped:
            return
        room = OUTPUT_CAP[stream] - self.sent.get(name, 0)
        if len(data) > room:
            self._send(name, data[: max(room, 0)])
            self._send(name, _note(OUTPUT_CAP[stream]))
            self.capped.add(name)
        else:
            self._send(name, data)

    def result(self, rel: str, line: dict[str, Any]) -> dict[str, Any] | None:
        """Frame result file ``rel`` once; a corrected status record when it was too big."""
        if rel in self.done_results:
            return None
        self.done_results.add(rel)
        path = os.path.join(self.job_dir, rel)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        fixed = None
        if self.results_sent + len(data) > RESULT_CAP:
            message = (
                f"the result is {len(data) / 2**20:.1f} MiB, more than a Kubernetes pod can "
                f"send back through its log ({RESULT_CAP // 2**20} MiB per pod): return less, "
                "or save it to storage the pod can reach and return its path"
            )
            record = {"type": "builtins.ValueError", "message": message, "traceback": ""}
            data = pickle.dumps(("error", {**record, "exception": None}))
            fixed = {**line, "outcome": "error", "sha256": hashlib.sha256(data).hexdigest()}
            fixed["time"] = time.time()
        self.results_sent += len(data)
        frame(rel, 0, data)
        sys.stdout.write(f"{MAGIC} {rel} = {len(data)}\n")
        return fixed

    def status(self, final: bool, data: bytes | None = None) -> None:
        """New complete status lines, each after the result file it announces."""
        name = "status" + self.suffix
        data = self._new(name) if data is None else data
        if not final:
            data = data[: data.rfind(b"\n") + 1]
        self.read[name] = self.read.get(name, 0) + len(data)
        out: list[bytes] = []
        for raw in data.splitlines(keepends=True):
            out.append(raw)
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            event = line.get("event") if isinstance(line, dict) else None
            rel = None
            if event == "finished" and not self.suffix:
                rel = "result.pkl"
            elif event == "item-finished" and isinstance(line.get("index"), int):
                rel = f"results/{line['index']}.pkl"
            if rel is not None:
                self._send(name, b"".join(out))
                out = []
                fixed = self.result(rel, line)
                if fixed is not None:
                    out.append((json.dumps(fixed) + "\n").encode())
        self._send(name, b"".join(out))

    def pump(self, final: bool = False) -> None:
        # Status first: the runner flushes a call's output before its status line, so
        # output read after the status holds all that the status lines speak of.
        status = self._new("status" + self.suffix)
        self.output("stdout")
        self.output("stderr")
        self.status(final, status)
        sys.stdout.flush()


def materialize(source: str, job_dir: str) -> dict[str, Any]:
    """Copy the Secret's keys to where ``clusterlab.json`` says; return that config."""
    with open(os.path.join(source, CONFIG)) as fh:
        config: dict[str, Any] = json.load(fh)
    os.makedirs(job_dir, mode=0o700, exist_ok=True)
    for rel in config.get("dirs", []):
        os.makedirs(os.path.join(job_dir, rel), mode=0o700, exist_ok=True)
    for key, target in config["files"].items():
        path = target if target.startswith("/") else os.path.join(job_dir, target)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.tmp"
        shutil.copyfile(os.path.join(source, key), tmp)  # follows the volume's symlinks
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return config


def main() -> int:
    source = os.path.dirname(os.path.abspath(__file__))
    job_dir = os.environ["CLUSTERLAB_JOB_DIR"]
    task = os.environ.get("JOB_COMPLETION_INDEX") if os.environ.get("CLUSTERLAB_ARRAY") else None
    config = materialize(source, job_dir)
    fwd = Forwarder(job_dir, task)
    suffix = "" if task is None else f".{task}"
    argv = [sys.executable, os.path.join(job_dir, "runner.py"), job_dir]
    if task is not None:
        argv.append(task)
    if config.get("setup"):
        argv = ["sh", "-c", "\n".join([*config["setup"], 'exec "$@"']), "sh", *argv]
    with (
        open(os.path.join(job_dir, "stdout" + suffix), "ab") as out,
        open(os.path.join(job_dir, "stderr" + suffix), "ab") as err,
    ):
        try:
            child = subprocess.Popen(argv, cwd=job_dir, stdout=out, stderr=err)
        except OSError as exc:
            err.write(f"clusterlab: could not start {argv[0]}: {exc}\n".encode())
            child = None
    if child is not None:
        # PID 1 of a container has no default signal handlers: pass SIGTERM on.
        signal.signal(signal.SIGTERM, lambda signum, _: child.send_signal(signum))
        while child.poll() is None:
            fwd.pump()
            time.sleep(PUMP_SECONDS)
        code = child.returncode if child.returncode >= 0 else 128 - child.returncode
    else:
        code = 127
    record = {"event": "exit", "code": code, "time": int(time.time())}
    with open(os.path.join(job_dir, "status" + suffix), "a") as fh:
        fh.write(json.dumps(record) + "\n")
    fwd.pump(final=True)
    sys.stdout.write(f"{MAGIC} . = {code}\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
