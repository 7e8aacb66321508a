"""A cluster 50 ms away: the sandbox's sshd behind a relay that adds 25 ms each way.

    python bench/distance.py [--delay-ms 25] [--repeat 5] [--items 1000] [--client openssh]

Prints the relay's measured round trip, then for SLURM over SSH through it: the raw limit
(`ssh` + `sbatch --wrap true`, polled with `squeue` over the same relay every 50 ms), the
round trip of a no-op `f()`, a `map` of ``--items`` no-ops to every result, and the SSH
round trips (commands) per job and per map; each against its target (issue 30): no-op <=
limit + 0.3 s, map(1,000) <= 3 s, <= 3 round trips per job, <= 4 per map, with
"met"/"missed". Needs the sandbox (tests/cluster/sandbox.py up). Only loopback traffic.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from relay import Relay, known_hosts_for
from sandbox_profiles import setup

TARGETS = {"over_limit_s": 0.3, "map_s": 3.0, "trips_per_job": 3, "trips_per_map": 4}


def noop() -> None:
    return None


def raw_limit(info: Any, port: int, known: str, repeat: int) -> list[float]:
    """What no client can beat over this link: one ssh connection per sbatch, squeue polls
    over one kept connection (ControlMaster) every 50 ms."""
    control = Path(tempfile.mkdtemp(prefix="bench-cm-")) / "cm"
    base = ["ssh", "-F", "none", "-i", info.ssh_key, "-p", str(port), "-l", info.ssh_user,
            "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", f"ControlPath={control}", "-o", "ControlMaster=auto",
            "-o", "ControlPersist=60", "127.0.0.1"]  # fmt: skip
    subprocess.run([*base, "true"], check=True)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jid = subprocess.run(
            [*base, "sbatch --parsable --wrap true --output=/dev/null"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        while True:
            state = subprocess.run(
                [*base, f"squeue -h --states=all --jobs={jid} --format=%T"],
                capture_output=True, text=True, check=False,
            ).stdout.strip()  # fmt: skip
            if state == "COMPLETED":
                break
            time.sleep(0.05)
        times.append(time.perf_counter() - t0)
    subprocess.run([*base[:-1], "-O", "exit", "127.0.0.1"], capture_output=True, check=False)
    return times


def verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, default=25.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--client", default="auto", choices=("auto", "openssh", "paramiko"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    info, _, _ = setup(poll_interval=1.0)
    os.environ.setdefault("CLUSTERLAB_LOGIN_DIR", tempfile.mkdtemp(prefix="bench-login-"))
    import clusterlab as cl
    from clusterlab.core.runtime import get_runtime

    relay = Relay(info.ssh_port, args.delay_ms).start()
    rtt = relay.measured_rtt()
    print(f"relay 127.0.0.1:{relay.port} -> sshd {info.ssh_port}: measured round trip "
          f"{rtt * 1000:.1f} ms")  # fmt: skip
    known = known_hosts_for(info, relay.port)
    limit = raw_limit(info, relay.port, known, args.repeat)
    profile = cl.Profile(
        name="far", scheduler="slurm", host="127.0.0.1", port=relay.port,
        user=info.ssh_user, key_file=info.ssh_key, known_hosts=known,
        python=info.remote_python, poll_interval=1.0, ssh_client=args.client,
    )  # fmt: skip
    cl.profiles.save(profile)
    f = cl.cluster("far")(noop)
    f()  # log in, probe the environment
    runtime = get_runtime(profile)
    trips0 = runtime.transport.round_trips
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    per_job = (runtime.transport.round_trips - trips0) / args.repeat
    trips0 = runtime.transport.round_trips
    t0 = time.perf_counter()
    arr = cl.cluster("far")(abs).map(range(-args.items, 0))
    values = arr.results(timeout=600)
    map_s = time.perf_counter() - t0
    per_map = runtime.transport.round_trips - trips0
    assert values == list(range(args.items, 0, -1))
    over = statistics.median(times) - statistics.median(limit)
    result = {
        "delay_ms_each_way": args.delay_ms,
        "measured_rtt_ms": rtt * 1000,
        "client": type(runtime.transport).__name__,
        "limit_median_s": statistics.median(limit),
        "noop_median_s": statistics.median(times),
        "over_limit_s": over,
        "map_items": args.items,
        "map_s": map_s,
        "trips_per_job": per_job,
        "trips_per_map": per_map,
    }
    rows = [
        ("no-op over the limit", f"{over:+.2f} s", over <= TARGETS["over_limit_s"]),
        (f"map({args.items}) to every result", f"{map_s:.2f} s",
         args.items != 1000 or map_s <= TARGETS["map_s"]),
        ("SSH round trips per job", f"{per_job:.1f}", per_job <= TARGETS["trips_per_job"]),
        ("SSH round trips per map", f"{per_map}", per_map <= TARGETS["trips_per_map"]),
    ]  # fmt: skip
    print(f"raw limit (ssh + sbatch, squeue polled): median {result['limit_median_s']:.2f} s; "
          f"no-op ({result['client']}): median {result['noop_median_s']:.2f} s")  # fmt: skip
    for label, value, ok in rows:
        print(f"{label:<34} {value:>10}  {verdict(ok)}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    relay.stop()
    return result


if __name__ == "__main__":
    main()
