"""Where a large argument's upload time goes (issue 30 item 4), near and 50 ms away.

    python bench/payload_breakdown.py [--mb 200] [--repeat 3] [--delay-ms 0|25]

For one random ``--mb`` MB float64 array, over SSH to the sandbox (through
``bench/relay.py`` when ``--delay-ms`` > 0), medians of ``--repeat`` runs:

- ``scp`` of the same bytes (a new connection each time): the yardstick;
- the raw pipe: ``cat > file`` through the profile's own SSH transport (cipher, window and
  pipes, nothing of ours);
- the blob store's upload script (``blobs._PUT``: temp file, remote sha256sum while the
  bytes arrive, size and checksum checks, rename) through the same transport;
- this process's own work before any byte leaves: pickling the argument, hashing it;
- ``f.submit(arr)`` until the scheduler accepted the job (all of the above, the
  "do you have it" round trip, staging and ``sbatch``).

Prints each with its share of scp's time and the verdict for the target (the whole
upload at >= 70 % of scp's throughput); writes bench/results/payload_breakdown.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox_profiles import ROOT, setup


def nbytes(a: Any) -> int:
    return int(a.nbytes)


def median_of(repeat: int, run: Any) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/payload_breakdown.json")
    args = parser.parse_args()
    info, _, _ = setup(poll_interval=1.0)
    import cloudpickle
    import numpy as np

    import clusterlab as cl
    from clusterlab.core.runtime import get_runtime
    from clusterlab.core.transfer.blobs import _PUT

    port, known = info.ssh_port, info.known_hosts
    relay = None
    if args.delay_ms > 0:
        from relay import Relay, known_hosts_for

        relay = Relay(info.ssh_port, args.delay_ms).start()
        port, known = relay.port, known_hosts_for(info, relay.port)
        print(f"through a relay: measured round trip {relay.measured_rtt() * 1000:.1f} ms")
    remote_dir = f"clusterlab-bench-{secrets.token_hex(4)}"
    profile = cl.Profile(
        name="b-payload", scheduler="slurm", host="127.0.0.1", port=port, user=info.ssh_user,
        key_file=info.ssh_key, known_hosts=known, python=info.remote_python,
        remote_dir=f"~/{remote_dir}", poll_interval=1.0,
    )  # fmt: skip
    cl.profiles.save(profile)
    f = cl.cluster(profile.name)(nbytes)
    assert f(np.zeros(4)) == 32  # log in, probe
    transport = get_runtime(profile).transport
    home = transport.home()
    size = args.mb * 1_000_000
    arr = np.random.default_rng(1).random(size // 8)
    data = cloudpickle.dumps(("ok", arr), protocol=5)
    path = Path(tempfile.mkdtemp(prefix="bench-payload-")) / "payload.bin"
    path.write_bytes(data)
    ssh_opts = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={known}", "-i", info.ssh_key]  # fmt: skip

    def scp() -> None:
        dest = f"{info.ssh_user}@127.0.0.1:{remote_dir}-scp.bin"
        subprocess.run(["scp", "-q", *ssh_opts, "-P", str(port), str(path), dest], check=True)

    def pipe() -> None:
        res = transport.run(["sh", "-c", 'cat > "$0"', f"{home}/{remote_dir}-pipe.bin"], stdin=data)
        assert res.returncode == 0, res.err

    def put() -> None:
        name = hashlib.sha256(data).hexdigest() + ".pkl"
        blobs = f"{home}/{remote_dir}/blobs-bench"
        res = transport.script(_PUT, blobs, name, str(len(data)), stdin=data)
        assert res.returncode == 0, res.err

    rows = {
        "scp (new connection)": median_of(args.repeat, scp),
        "raw pipe: cat > file on the profile's transport": median_of(args.repeat, pipe),
        "blob upload script (remote checksum, checks, rename)": median_of(args.repeat, put),
        "pickling the argument (cloudpickle, protocol 5)": median_of(
            args.repeat, lambda: cloudpickle.dumps(("ok", arr), protocol=5)
        ),
        "hashing it (sha256)": median_of(args.repeat, lambda: hashlib.sha256(data).digest()),
    }
    # f.submit(arr) returns at once; the upload is the time until the job leaves
    # SUBMITTING (the submission thread pickled, hashed, asked, uploaded and submitted)
    up = []
    for _ in range(args.repeat):
        fresh = arr.copy()
        fresh[0] = time.time()
        t0 = time.perf_counter()
        job = f.submit(fresh)
        while job.state.value == "SUBMITTING":
            time.sleep(0.002)
        up.append(time.perf_counter() - t0)
        job.result(timeout=600)
        job.cleanup()
    rows["f.submit(arr) until accepted by the scheduler"] = statistics.median(up)
    transport.run(["rm", "-rf", "--", f"{home}/{remote_dir}", f"{home}/{remote_dir}-pipe.bin",
                   f"{home}/{remote_dir}-scp.bin"])  # fmt: skip
    scp_s = rows["scp (new connection)"]
    print(
        f"{len(data) / 1e6:.0f} MB, delay {args.delay_ms:g} ms each way, medians of {args.repeat}"
    )
    for label, seconds in rows.items():
        print(f"{label:<58} {seconds:7.3f} s  {len(data) / 1e6 / seconds:7.0f} MB/s  "
              f"{seconds / scp_s:5.2f}x scp's time")  # fmt: skip
    share = scp_s / rows["f.submit(arr) until accepted by the scheduler"]
    print(f"f.submit throughput vs scp: {share * 100:.0f} % (target >= 70 %): "
          f"{'met' if share >= 0.7 else 'missed'}")  # fmt: skip
    args.json.write_text(json.dumps({"mb": args.mb, "delay_ms": args.delay_ms, "seconds": rows,
                                     "share_of_scp": share}, indent=1) + "\n")  # fmt: skip
    if relay is not None:
        relay.stop()


if __name__ == "__main__":
    main()
