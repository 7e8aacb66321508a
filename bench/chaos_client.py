"""The submitting side of the chaos run (bench/chaos.py): a kernel's work in a process of
its own, so the run can SIGKILL it and start another that reattaches.

``chaos_client.py RUN_DIR submit``: submits, per backend, one map of N items and M single
jobs, writes ``RUN_DIR/state.json`` once none is SUBMITTING, then collects.
``chaos_client.py RUN_DIR reattach``: reads ``state.json`` and collects the same jobs
through ``cl.job(id)``, as a new kernel would.

Collecting: every result is awaited; an item or job that FAILED is run once more
(``rerun_failed`` / a new submission, what a user does) and counted as such; then
``RUN_DIR/results.<backend>.json`` holds every value or error, with the failures' reasons.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import clusterlab as cl

RERUNS = 3  # times a failed item or job is run again
RERUN_AFTER = 10.0  # seconds before each rerun (a full disk may be freed by then)


def make_work(mark_dir: str, backend: str, kind: str, seconds: float) -> Any:
    """An item's function (a closure: shipped by value). It leaves one marker file per
    execution, so the run counts how often each item ran; the value proves whose it is."""

    def work(i: int) -> list[Any]:
        import os as o
        import time as t

        t.sleep(seconds * (0.5 + (i * 7919 % 100) / 100))  # 0.5x..1.5x, spread
        name = f"{mark_dir}/{backend}.{kind}.{i}.{o.uname().nodename}.{o.getpid()}.{t.time_ns()}"
        with open(name, "x"):
            pass
        return [backend, kind, i, i * i]

    return work


def _write(path: Path, data: object) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def submit(run: Path, conf: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    jobs: list[Any] = []
    for backend in conf["backends"]:
        t0 = time.time()
        mapped = cl.cluster(backend, time="00:30:00")(
            make_work(conf["mark_dir"], backend, "map", conf["item_seconds"])
        )
        single = cl.cluster(backend, time="00:30:00")(
            make_work(conf["mark_dir"], backend, "single", conf["single_seconds"])
        )
        arr = mapped.map(range(conf["items"]))
        singles = [single.submit(i) for i in range(conf["singles"])]
        jobs += [arr, *singles]
        state[backend] = {"map": arr.id, "singles": [j.id for j in singles], "t0": t0}
    while any(
        j.state == cl.JobState.SUBMITTING
        for job in jobs
        for j in (job.elements if isinstance(job, cl.ArrayJob) else [job])
    ):
        time.sleep(0.2)
    _write(run / "state.json", state)
    print("submitted", flush=True)
    return state


def _rerun(run: Path, backend: str, what: str, out: dict[str, Any]) -> None:
    """Note a rerun at once (a file the run reads even if this kernel is killed later)."""
    out["reruns"].append(what)
    with open(run / f"reruns.{backend}.jsonl", "a") as fh:
        fh.write(json.dumps(what) + "\n")


def _outcome(job: Any, timeout: float) -> tuple[bool, Any]:
    try:
        return True, job.result(timeout=timeout)
    except Exception as exc:  # the run reports it: a result that never came is the finding
        return False, f"{job.state}: {job.reason or type(exc).__name__}: {exc}"[:400]


def collect(run: Path, conf: dict[str, Any], backend: str, ids: dict[str, Any]) -> None:
    try:
        _collect(run, conf, backend, ids)
    except BaseException as exc:  # the run's table says so (no result file: all lost)
        print(f"collecting {backend} failed: {exc!r}", flush=True)
        raise


def _collect(run: Path, conf: dict[str, Any], backend: str, ids: dict[str, Any]) -> None:
    deadline = conf["deadline"]
    out: dict[str, Any] = {"map": {}, "singles": {}, "reruns": [], "reasons": {}}
    arr = cl.job(ids["map"])
    assert isinstance(arr, cl.ArrayJob)
    arr.wait(max(1.0, deadline - time.time()))
    for _ in range(RERUNS):  # what a user does: run what failed again, a while later
        failed = sorted(arr.failed())
        if not failed:
            break
        for i in failed:
            out["reasons"].setdefault(f"map {i}", f"{arr[i].state}: {arr[i].reason}")
        time.sleep(RERUN_AFTER)
        try:
            arr.rerun_failed()
        except cl.SubmitError as exc:  # refused (a full disk): nothing ran; again later
            out["reasons"].setdefault("map rerun", str(exc)[:400])
            continue
        for i in failed:
            _rerun(run, backend, f"map {i}", out)
        arr.wait(max(1.0, deadline - time.time()))
    for i, job in enumerate(arr.elements):
        out["map"][i] = _outcome(job, 1)
    single = cl.cluster(backend, time="00:30:00")(
        make_work(conf["mark_dir"], backend, "single", conf["single_seconds"])
    )
    jobs = {i: cl.job(job_id) for i, job_id in enumerate(ids["singles"])}
    for i, job in jobs.items():
        out["singles"][i] = _outcome(job, max(1.0, deadline - time.time()))
    for _ in range(RERUNS):  # the failed ones again, together
        failed = [i for i, (ok, _) in out["singles"].items() if not ok and jobs[i].done()]
        if not failed:
            break
        time.sleep(RERUN_AFTER)
        for i in failed:
            out["reasons"].setdefault(f"single {i}", out["singles"][i][1])
            jobs[i] = single.submit(i)
        for i in failed:
            out["singles"][i] = ok, value = _outcome(jobs[i], max(1.0, deadline - time.time()))
            if ok or "not submitted" not in str(value):  # it may have run
                _rerun(run, backend, f"single {i}", out)
    out["t_end"] = time.time()
    _write(run / f"results.{backend}.json", out)


def main(argv: list[str]) -> int:
    run, mode = Path(argv[1]), argv[2]
    conf = json.loads((run / "config.json").read_text())
    if mode == "submit":
        state = submit(run, conf)
    else:
        state = json.loads((run / "state.json").read_text())
        print("reattached", flush=True)
    threads = [
        threading.Thread(target=collect, args=(run, conf, b, ids), name=f"collect-{b}")
        for b, ids in state.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("collected", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
