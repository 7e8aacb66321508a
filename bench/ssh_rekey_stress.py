"""Issue 30 item 6: several threads pushing hundreds of MB through ONE paramiko connection.

Each thread runs one command on the same ``SSHTransport`` (the sandbox's sshd, as its
throwaway user): ``up`` sends ``--mb`` MB to ``cat > /dev/null``, ``down`` reads ``--mb``
MB from ``head -c``, ``both`` does half of each. paramiko renegotiates keys after
``Packetizer.REKEY_BYTES`` (512 MiB by default); ``--rekey-mb`` lowers it so that a run of
a few hundred MB crosses many renegotiations. A thread that fails with "Key-exchange timed
out waiting for key negotiation", or one still running after ``--timeout`` seconds (a
deadlock), reproduces the issue; the script prints what each thread got, the throughput,
how many key exchanges the connection went through, and "reproduced"/"not reproduced".

Not part of ``make test``:  .venv/bin/python bench/ssh_rekey_stress.py --threads 4 --mb 200
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_profiles import setup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--mb", type=int, default=200, help="MB each thread moves")
    ap.add_argument("--mode", choices=("up", "down", "both"), default="both")
    ap.add_argument("--rekey-mb", type=int, default=16, help="0: paramiko's default")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument(
        "--pollers", type=int, default=2, help="threads running small commands meanwhile"
    )
    ap.add_argument(
        "--plain", action="store_true", help="paramiko's own Transport (before the fix)"
    )
    args = ap.parse_args()

    import paramiko

    if os.environ.get("REKEY_LOG"):
        paramiko.util.log_to_file(os.environ["REKEY_LOG"])
    if args.rekey_mb:
        paramiko.packet.Packetizer.REKEY_BYTES = args.rekey_mb * 1024 * 1024
    _info, _tmp, profiles = setup(1.0)
    import clusterlab as cl
    from clusterlab.transports import get_transport, ssh

    if args.plain:
        ssh.RekeySafeTransport = paramiko.Transport  # type: ignore[misc]

    base = profiles["SLURM over SSH"].to_dict()
    profile = cl.Profile(**{**base, "name": "b-rekey", "ssh_client": "paramiko", "persist": 0})
    transport = get_transport(profile)
    transport.run(["true"])  # connect once: every thread shares this connection
    kex = count_key_exchanges(transport)
    size = args.mb * 1024 * 1024
    payload = b"\xa5" * size
    results: dict[int, str] = {}

    def work(i: int) -> None:
        up = args.mode == "up" or (args.mode == "both" and i % 2 == 0)
        start = time.monotonic()
        try:
            if up:
                res = transport.run(["sh", "-c", "wc -c"], stdin=payload, timeout=args.timeout)
                moved = int(res.out.strip() or 0) if res.returncode == 0 else -res.returncode
            else:
                res = transport.run(["head", "-c", str(size), "/dev/zero"], timeout=args.timeout)
                moved = len(res.stdout) if res.returncode == 0 else -res.returncode
            took = time.monotonic() - start
            ok = "ok" if moved == size else f"short ({moved} of {size} bytes; <0: exit code)"
            results[i] = f"{'up' if up else 'down'} {ok}: {moved / took / 1e6:.0f} MB/s"
        except Exception as exc:  # the point of the script: say what each thread got
            results[i] = f"{'up' if up else 'down'} FAILED after {time.monotonic() - start:.1f} s: "
            results[i] += f"{type(exc).__name__}: {exc}"

    stop = threading.Event()
    polls: list[str] = []  # "ok" or the error of each small command (a watcher's poll)

    def poll() -> None:
        while not stop.is_set():
            try:
                res = transport.run(["true"], timeout=args.timeout)
                polls.append("ok" if res.returncode == 0 else f"exit {res.returncode}")
            except Exception as exc:
                polls.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(args.threads)]
    pollers = [threading.Thread(target=poll, daemon=True) for _ in range(args.pollers)]
    start = time.monotonic()
    for t in [*threads, *pollers]:
        t.start()
    for t in threads:
        t.join(max(0.0, args.timeout + 10 - (time.monotonic() - start)))
    took = time.monotonic() - start
    stop.set()
    for t in pollers:
        t.join(args.timeout)
    bad_polls = [p for p in polls if p != "ok"]
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    print(f"{args.threads} threads x {args.mb} MB ({args.mode}) over one paramiko connection")
    link = transport._transport()  # type: ignore[attr-defined]
    kept = f"{getattr(link, 'deferred_total', 'n/a')}, dropped (channel closed): "
    kept += str(getattr(link, "dropped_total", "n/a"))
    print(f"rekey every {args.rekey_mb or 512} MiB; {kex()} key exchanges; {took:.1f} s")
    print(f"messages the reader thread deferred during an exchange: {kept}")
    for i in range(args.threads):
        print(f"  thread {i}: {results.get(i, 'HUNG (still running: deadlock)')}")
    print(f"small commands meanwhile: {len(polls)}, failed: {len(bad_polls)}")
    if bad_polls:
        print(f"  first failure: {bad_polls[0]}")
    failed = hung or bad_polls or any("FAILED" in r or "short" in r for r in results.values())
    total = args.threads * args.mb
    print(f"total {total} MB in {took:.1f} s = {total / took:.0f} MB/s")
    print("reproduced" if failed else "not reproduced")
    return 1 if failed else 0


def count_key_exchanges(transport: object) -> object:
    """A function that says how many key exchanges the connection started so far."""
    import paramiko

    seen = [0]
    original = paramiko.Transport._send_kex_init

    def counted(self: paramiko.Transport) -> None:
        seen[0] += 1
        original(self)

    paramiko.Transport._send_kex_init = counted  # type: ignore[method-assign]
    return lambda: seen[0]


if __name__ == "__main__":
    sys.exit(main())
