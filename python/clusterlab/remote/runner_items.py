"""Array items on the cluster: the runner's second file (stdlib only, shipped beside
``runner.py`` in every job dir; ``runner.py`` loads it by path).

What only the items of an array need, apart from running one call (``runner.py``):
where each item's output lies in its task's shared stdout/stderr (log offsets in the
``item-started``/``item-finished`` status lines) and what it used, each item's own
working dir for a map with ``outputs=``, and pool mode's worker protocol (claims,
heartbeats, stealing, one retry, the keeper; see ``runner.py``'s module docstring).

Why a second shipped file rather than a zipapp: every path that stages a job (submit,
the batched tar with its hard-linked runner, Kubernetes' Secret, the host queue) already
ships named files into the job dir, and ``python runner.py`` keeps working everywhere
(``python -I`` included: nothing relies on ``sys.path``). A zipapp would change what the
job script runs and what a remote traceback shows, for no gain.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def die_of(signum: int) -> None:
    """End this process as ``signum`` would have by default. As PID 1 of a container
    (``container=`` with podman or docker) the kernel ignores a default-handled signal
    the process sends itself, so the runner would go on running after a cancel that it
    has just recorded: it exits with the shell's code for the signal instead."""
    signal.signal(signum, signal.SIG_DFL)
    if os.getpid() == 1:
        os._exit(128 + signum)
    os.kill(os.getpid(), signum)


# The job-dir contract as the runner knows it (kernel's copy: clusterlab/common/jobdir.py;
# tests/unit/test_jobdir_contract.py proves that they agree).
RESULTS, ITEMS, CLAIMS, WORKERS = "results", "items", "claims", "workers"
ITEM_DIRS_VAR = "CLUSTERLAB_ITEM_DIRS"  # a map with outputs=: each item in its own dir
CANCELLED = "cancelled"  # a claim the kernel wrote: no worker may run the item
POOL_HEARTBEAT_SECONDS = 1.0  # a pool worker touches workers/W this often
POOL_STALE_SECONDS = 10.0  # ...and is taken for dead when it has not for this long
POOL_IDLE_SECONDS = 0.5  # how often the keeper looks for items to retry
OUTCOME = {True: "ok", False: "error"}


GPU_SAMPLE_SECONDS = 5.0  # how often the job's GPUs are sampled while it runs
GPU_FIRST_SAMPLE_SECONDS = 1.0  # the first sample: after the function has started
GPU_QUERY = ("--query-gpu=memory.used,utilization.gpu", "--format=csv,noheader,nounits")
GPU_QUERY_TIMEOUT = 10.0  # a hung driver must not hold the job


class GpuSampler:
    """Peak memory and mean utilisation of the job's GPUs (``CUDA_VISIBLE_DEVICES``), from
    ``nvidia-smi`` every few seconds in a thread while the job runs. Why sampling:
    neither the kernel nor rusage can see GPU memory or load, and the scheduler's
    accounting rarely records them. A job without GPUs (no ``CUDA_VISIBLE_DEVICES``, or no
    ``nvidia-smi`` on the node) starts no thread and reports nothing."""

    def __init__(self) -> None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        self.ids = [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
        self.smi = shutil.which("nvidia-smi") if self.ids else None
        self.peak = 0  # bytes on the fullest of its GPUs
        self.busy: list[float] = []  # one mean over its GPUs per sample, 0..1
        self.readings = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def start(self) -> None:
        if self.smi:
            threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        wait = GPU_FIRST_SAMPLE_SECONDS
        while self.smi and not self.stopping.wait(wait):
            self.sample()
            wait = GPU_SAMPLE_SECONDS

    def sample(self, busy: bool = True) -> None:
        """One reading; ``busy=False`` counts its memory only (the last one, taken after
        the function returned, would make the GPUs look idler than they were)."""
        if not self.smi:
            return
        argv = [self.smi, *GPU_QUERY, f"--id={','.join(self.ids)}"]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=GPU_QUERY_TIMEOUT, check=False
            )
            said = done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}"
            problem = said if done.returncode else ""
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = str(exc)
        if problem:  # said once in the job's stderr; the job itself goes on
            self.smi = None
            sys.stderr.write(f"clusterlab: nvidia-smi failed ({problem[:200]}): no GPU usage\n")
            return
        memory, load = [], []
        for line in done.stdout.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != 2:
                continue
            with contextlib.suppress(ValueError):  # "[N/A]" (e.g. a MIG slice): unknown
                memory.append(int(float(parts[0]) * 1024 * 1024))  # MiB
            with contextlib.suppress(ValueError):
                load.append(float(parts[1]) / 100)
        with self.lock:
            self.readings += 1
            self.peak = max([self.peak, *memory])
            if busy and load:
                self.busy.append(sum(load) / len(load))

    def fields(self) -> dict[str, Any]:
        """What to add to a usage record: nothing while nothing was read."""
        with self.lock:
            if not self.readings:
                return {}
            mean = sum(self.busy) / len(self.busy) if self.busy else None
            return {"gpus": len(self.ids), "gpu_memory": self.peak, "gpu_utilization": mean}

    def stop(self) -> dict[str, Any]:
        """End the sampling with a last reading of memory; the fields for ``finished``."""
        self.stopping.set()
        self.sample(busy=False)
        return self.fields()


GPUS: GpuSampler | None = None  # this process's, once the runner started it


def start_gpu_sampling() -> None:
    global GPUS
    GPUS = GpuSampler()
    GPUS.start()


def sized(directory: str, name: str) -> dict[str, int]:
    """``{"size": bytes}`` of a result file for its "finished" line (the kernel leaves a
    result over its ``result_limit`` on the cluster, unread); ``{}`` when it has none."""
    try:
        return {"size": os.path.getsize(os.path.join(directory, name))}
    except OSError:
        return {}


def usage(since: float, cpu_before: float = 0.0, final: bool = False) -> dict[str, Any]:
    """Seconds and CPU seconds since then, and the peak RSS in bytes of this process and of
    the children it waited for (``ru_maxrss``: KiB on Linux, bytes on macOS); with GPUs,
    their peak memory and mean utilisation so far (``final``: the sampling ends here)."""
    me, kids = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime - cpu_before
    rss = max(me.ru_maxrss, kids.ru_maxrss) * (1 if sys.platform == "darwin" else 1024)
    used = {"elapsed": time.monotonic() - since, "cpu_time": cpu, "max_rss": rss}
    if GPUS is not None:
        used.update(GPUS.stop() if final else GPUS.fields())
    return used


def log_ends() -> dict[str, int]:
    """Where stdout and stderr end now, Python's buffers flushed: an item's output lies
    between two such marks whatever wrote it (print, os.write, a subprocess). A terminal or a
    pipe has no end (no marks: the kernel shows the whole log)."""
    ends = {}
    for key, fd, name in (("out", 1, "stdout"), ("err", 2, "stderr")):
        for stream in (getattr(sys, name), getattr(sys, f"__{name}__")):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode):
                ends[key] = info.st_size
    return ends


def enter_item_dir(index: int) -> str:
    """A map with ``outputs=``: the item runs in ``<dir>/<index>`` (named by the kernel) with
    the input files linked in, so items writing one name keep their own copy. -> old cwd"""
    home, spec = os.getcwd(), json.loads(os.environ.get(ITEM_DIRS_VAR) or "{}")
    if spec:
        here = os.path.join(spec["dir"], str(index))
        for name in ["", *spec["inputs"]]:  # "": the item's dir itself
            link = os.path.join(here, name)
            os.makedirs(os.path.dirname(link), mode=0o700, exist_ok=True)
            if name and not os.path.lexists(link):
                os.symlink(os.path.join(home, name), link)
        os.chdir(here)
    return home


class Item:
    """One item's stretch of its task: ``item-started`` now; ``item-finished`` (where its
    output lies in the task's log files, what it used) when :meth:`finished`."""

    def __init__(self, job: Any, index: int, **fields: Any) -> None:
        self.job, self.index, self.clock = job, index, time.monotonic()
        self.logs, self.cpu = log_ends(), usage(0.0)["cpu_time"]
        job.status("item-started", index=index, **self.logs, **fields)
        self.home = enter_item_dir(index)

    def finished(self, **fields: Any) -> None:
        os.chdir(self.home)
        ends, used = log_ends(), usage(self.clock, self.cpu)
        logs = {k: [start, ends[k]] for k, start in self.logs.items() if k in ends}
        size = sized(os.path.join(self.job.dir, RESULTS), f"{self.index}.pkl")
        self.job.status("item-finished", index=self.index, usage=used, **logs, **size, **fields)


class Pool:
    """One worker of a pool: claims items one at a time and runs them (see module doc)."""

    def __init__(
        self,
        job: Any,
        cloudpickle: Any,
        shares: list[list[int]],
        execute: Callable[[int], tuple[bool, str]],
        fail: Callable[[int, str], None],
    ) -> None:
        self.job = job  # the runner's job: .dir, .task and .status(event, **fields)
        self.cloudpickle = cloudpickle
        self.execute = execute  # run item i and write its result: (ok, sha256)
        self.fail = fail  # write item i's result as this error message
        self.me = str(job.task)
        self.shares = shares
        self.own = shares[int(self.me)] if int(self.me) < len(shares) else []
        self.share_of = {i: s for s, indices in enumerate(shares) for i in indices}
        self.all = sorted(self.share_of)
        self.loaded: dict[int, dict[int, Any]] = {}
        self.claims = os.path.join(job.dir, CLAIMS)
        self.results = os.path.join(job.dir, RESULTS)
        self.beat_path = os.path.join(job.dir, WORKERS, self.me)
        self.stopping = threading.Event()
        self.all_ok = True

    # -- liveness ---------------------------------------------------------------------------
    def start_heartbeat(self) -> None:
        with open(self.beat_path, "w"):
            pass

        def beat() -> None:
            while not self.stopping.wait(POOL_HEARTBEAT_SECONDS):
                try:
                    os.utime(self.beat_path)
                except OSError:
                    return

        threading.Thread(target=beat, daemon=True).start()

        def on_term(signum: int, frame: Any) -> None:
            # Killed (scancel, preemption): say so at once, so an idle worker retries the
            # item now instead of after POOL_STALE_SECONDS.
            self.stopping.set()
            with contextlib.suppress(OSError):
                os.unlink(self.beat_path)
            self.job.status("stopped", signal=signum)
            die_of(signum)

        signal.signal(signal.SIGTERM, on_term)

    def alive(self, worker: str) -> bool:
        if worker in (self.me, ""):
            return True  # "" : a claim being written right now
        try:
            age = time.time() - os.stat(os.path.join(self.job.dir, WORKERS, worker)).st_mtime
        except OSError:
            return False
        return age < POOL_STALE_SECONDS

    # -- claims -----------------------------------------------------------------------------
    def claim(self, name: str) -> bool:
        try:
            fd = os.open(
                os.path.join(self.claims, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
        except FileExistsError:
            return False
        try:
            os.write(fd, self.me.encode())
        finally:
            os.close(fd)
        return True

    def owner(self, name: str) -> str:
        try:
            with open(os.path.join(self.claims, name)) as fh:
                return fh.read().strip()
        except OSError:
            return ""

    def keep_watch(self) -> bool:
        """Become (or stay) the one idle worker that waits for retries; False: leave."""
        if self.claim("keeper"):
            return True
        keeper = self.owner("keeper")
        if keeper == self.me or self.alive(keeper):
            return keeper == self.me
        tmp = os.path.join(self.claims, f".keeper.{self.me}")
        with open(tmp, "w") as fh:
            fh.write(self.me)
        os.replace(tmp, os.path.join(self.claims, "keeper"))
        return True

    # -- running ----------------------------------------------------------------------------
    def call(self, index: int) -> Any:
        share = self.share_of[index]
        if share not in self.loaded:
            with open(os.path.join(self.job.dir, ITEMS, f"{share}.pkl"), "rb") as fh:
                self.loaded[share] = {c[0]: c for c in self.cloudpickle.load(fh)}
        return self.loaded[share][index]

    def run(self, index: int, attempt: int) -> None:
        item = Item(self.job, index, attempt=attempt)
        ok, digest = self.execute(index)
        item.finished(outcome=OUTCOME[ok], sha256=digest)
        self.all_ok = self.all_ok and ok

    def give_up(self, index: int) -> None:
        """Both attempts' workers stopped: the item fails with a sentence, not silence."""
        self.fail(
            index,
            f"item {index} was started twice and both times its worker stopped before it "
            "finished (killed, out of memory, or its node failed): see the workers' stderr",
        )
        self.job.status("item-finished", index=index, outcome="error", gave_up=True)
        self.all_ok = False

    def work(self) -> bool:
        for index in self.own:  # forward; a failed claim means thieves took the rest
            if self.stopping.is_set() or not self.claim(str(index)):
                break
            self.run(index, 1)
        while not self.stopping.is_set():
            claimed = set(os.listdir(self.claims))
            took = False
            for index in reversed(self.all):  # steal from the ends of the shares
                if str(index) not in claimed and self.claim(str(index)):
                    self.run(index, 1)
                    took = True
            if took:
                continue
            done = {n[:-4] for n in os.listdir(self.results) if n.endswith(".pkl")}
            waiting = False
            for index in self.all:
                if str(index) in done or self.owner(str(index)) == CANCELLED:
                    continue
                retry = f"{index}.retry"
                if retry in claimed:
                    second = self.owner(retry)
                    if second == CANCELLED:
                        continue  # the kernel stopped caring about it
                    if not self.alive(second):
                        self.give_up(index)
                    else:
                        waiting = True
                elif not self.alive(self.owner(str(index))) and self.claim(retry):
                    self.run(index, 2)
                    took = True
                else:
                    waiting = True
            if took:
                continue
            if not waiting or not self.keep_watch():
                break
            time.sleep(POOL_IDLE_SECONDS)
        return self.all_ok
