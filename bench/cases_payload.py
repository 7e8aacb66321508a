"""Case 6: sending a large numpy argument over SSH, next to ``scp`` of the same bytes.

``f.submit(arr)`` pickles the call and returns; the profile's submission thread uploads
the arguments (large ones to a content-addressed store on the cluster) and submits the
job. So the upload is the time until the scheduler accepted the job (its ``native_id`` is
known), from the call.
``scp`` (OpenSSH, a new connection each time) is the yardstick. The same array is then
submitted again, to see what a repeated argument costs.
"""

from __future__ import annotations

import dataclasses
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

from common import (
    Context,
    Record,
    attempt,
    fmt_s,
    fmt_x,
    md_table,
    ratio,
    save_plot,
    target,
    value,
    verdict,
)

SCP = "scp (OpenSSH) of the same bytes"
FIRST = "clusterlab f.submit(arr) over SSH"
AGAIN = "clusterlab f.submit(arr), same array again"


def size_bytes(ctx: Context) -> int:
    return 5_000_000 if ctx.quick else 200_000_000


def nbytes(a: Any) -> int:
    return int(a.nbytes)


def remote_numpy(info: Any) -> str:
    """numpy's version for the SSH user's Python (the job must unpickle the array; the
    sandbox installs it there)."""
    probe = "import numpy; print(numpy.__version__)"
    check = ["runuser", "-u", info.ssh_user, "--", info.remote_python, "-c", probe]
    res = subprocess.run(check, capture_output=True, text=True, check=False, cwd="/")
    if res.returncode != 0:
        raise RuntimeError(
            f"numpy is missing for {info.remote_python}: update the sandbox "
            f"(python tests/cluster/sandbox.py up): {res.stderr.strip()[-300:]}"
        )
    return res.stdout.strip()


def _ssh_opts(info: Any) -> list[str]:
    return [
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={info.known_hosts}",
        "-i",
        info.ssh_key,
    ]


def ssh(info: Any, *argv: str) -> None:
    login = [*_ssh_opts(info), "-p", str(info.ssh_port), f"{info.ssh_user}@{info.ssh_host}"]
    subprocess.run(["ssh", *login, *argv], check=False, capture_output=True)


def scp_upload(info: Any, path: Path) -> Record:
    remote = f"clusterlab-bench-{secrets.token_hex(4)}.bin"
    dest = f"{info.ssh_user}@{info.ssh_host}:{remote}"
    argv = ["scp", "-q", *_ssh_opts(info), "-P", str(info.ssh_port), str(path), dest]
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    elapsed = time.perf_counter() - t0
    ssh(info, "rm", "-f", "--", remote)
    return {"time_s": elapsed, "mb_s": path.stat().st_size / 1e6 / elapsed}


def clusterlab_twice(f: Any, arr: Any) -> list[Record]:
    """Submit ``arr``, wait, submit the same array again, wait; clean both job dirs."""
    out: list[Record] = []
    jobs = []
    try:
        for tool in (FIRST, AGAIN):
            t0 = time.perf_counter()
            job = f.submit(arr)
            while job.state.value == "SUBMITTING":  # uploaded and submitted by its thread
                time.sleep(0.002)
            submitted = time.perf_counter() - t0
            jobs.append(job)
            got = job.result(timeout=1800)
            total = time.perf_counter() - t0
            assert got == arr.nbytes, got
            out.append(
                {
                    "tool": tool,
                    "time_s": submitted,
                    "mb_s": arr.nbytes / 1e6 / submitted,
                    "round_trip_s": total,
                }
            )
    finally:
        for job in jobs:
            try:
                job.cleanup()
            except Exception as exc:
                print(f"    (could not clean up {job.id}: {exc})")
    return out


def run_payload(ctx: Context) -> dict[str, Any]:
    import numpy as np

    import clusterlab as cl

    repeat = ctx.repeats(3)
    size = size_bytes(ctx)
    numpy_remote = remote_numpy(ctx.info)
    # A remote_dir of its own: what the library keeps of large arguments (if anything)
    # stays there and is deleted at the end, without touching other users of the sandbox.
    remote_dir = f"clusterlab-bench-{secrets.token_hex(4)}"
    profile = dataclasses.replace(
        ctx.profiles["ssh"], name="b-ssh-payload", remote_dir=f"~/{remote_dir}"
    )
    cl.profiles.save(profile)
    f = cl.cluster(profile)(nbytes)
    runs: list[Record] = []
    path = ctx.tmp / "payload.bin"
    try:
        f(np.zeros(1))  # warm-up: SSH connection, remote Python probe, numpy there
        for rep in range(repeat):
            print(f"  payload, run {rep + 1}/{repeat}", flush=True)
            # a new array each run, so a first submission never repeats an earlier one
            arr = np.random.default_rng(rep).random(size // 8)
            arr.tofile(path)
            attempt(runs, SCP, None, lambda: scp_upload(ctx.info, path))
            attempt(runs, FIRST, None, lambda arr=arr: clusterlab_twice(f, arr))
            del arr
    finally:
        path.unlink(missing_ok=True)
        ssh(ctx.info, "rm", "-rf", "--", remote_dir)
    info = {"repeat": repeat, "bytes": size, "numpy_remote": numpy_remote}
    return {"runs": runs, "info": info}


def assess_payload(case: dict[str, Any]) -> None:
    meds = case["median"]
    r = ratio(value(meds, FIRST, "mb_s"), value(meds, SCP, "mb_s"))
    case["ratios"] = {"clusterlab / scp throughput": r}
    case["targets"] = [
        target(
            f"upload throughput of f.submit(arr), {case['info']['bytes'] / 1e6:,.0f} MB, vs scp",
            "≥ 70 % of scp",
            "—" if r is None else f"{100 * r:.0f} %",
            None if r is None else r >= 0.7,
        )
    ]


def render_payload(case: dict[str, Any]) -> str:
    meds = case["median"]
    scp = value(meds, SCP, "mb_s")
    rows = []
    for tool in (SCP, FIRST, AGAIN):
        mb_s = value(meds, tool, "mb_s")
        goal = ""
        if tool == FIRST:
            goal = f"≥ 70 % of scp: {verdict(case['targets'][0]['met'])}"
        rows.append(
            [
                tool,
                fmt_s(value(meds, tool, "time_s")),
                "—" if mb_s is None else f"{mb_s:,.0f} MB/s",
                "—" if tool == SCP else fmt_x(ratio(mb_s, scp)),
                fmt_s(value(meds, tool, "round_trip_s")),
                goal,
            ]
        )
    size = case["info"]["bytes"] / 1e6
    table = md_table(
        ["Transfer", "Upload time", "Throughput", "x scp", "Submit to result", "Target"], rows
    )
    return (
        f"{table}\n\nA {size:,.0f} MB float64 array (random, so incompressible); the job "
        "returns `arr.nbytes`. For clusterlab the upload time runs from `submit()` until the "
        "scheduler accepted the job (pickling, upload and `sbatch`, on the submission "
        "thread since `submit()` no longer waits); scp opens a new connection each "
        "time. The second submission sends the very same array again: what a repeated "
        "argument costs (large arguments are kept content-addressed on the cluster, so "
        "only their digest should travel)."
        "\n\n![Upload throughput](images/bench-payload.png)\n"
    )


def plot_payload(case: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    meds = case["median"]
    tools = [SCP, FIRST, AGAIN]
    fig, ax = plt.subplots(figsize=(7, 2.6))
    vals = [value(meds, t, "mb_s") or 0.0 for t in tools]
    colours = {SCP: "#999999", FIRST: "#1f77b4", AGAIN: "#aec7e8"}
    ax.barh(tools[::-1], vals[::-1], color=[colours[t] for t in tools[::-1]])
    ax.set_xlabel("MB/s (median)")
    ax.set_title(f"Upload of a {case['info']['bytes'] / 1e6:,.0f} MB numpy array over SSH")
    save_plot(fig, path)
