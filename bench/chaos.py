"""The chaos run (``make chaos``, not part of ``make test``): a map of N items plus M
single jobs per backend (SLURM, Grid Engine, direct; all over SSH to the sandbox) while an
injector, at random times (seeded; the seed is printed, ``--seed`` replays a schedule),
restarts sshd and slurmctld, kills status agents, cuts SSH connections, fills the direct
job dirs' file system (a tmpfs of its own) and SIGKILLs the submitting kernel (a child
process: a new one reattaches and collects). Then it checks that every item's result
arrived exactly once (marker files count executions), that nothing is left running, and
prints the figures as a table (``--docs`` writes it into docs/reliability.md).

It restarts shared daemons: run it only in the window the project announced.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import chaos_faults as faults  # noqa: E402

KINDS = ("sshd_restart", "agent_kill", "connection_cut", "slurmctld_restart", "kernel_kill",
         "disk_full")  # fmt: skip
DOCS = ROOT / "docs" / "reliability.md"
START, END = "<!-- chaos:start -->", "<!-- chaos:end -->"


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--items", type=int, default=1000, help="map items per backend")
    ap.add_argument("--singles", type=int, default=200, help="single jobs per backend")
    ap.add_argument("--backends", default="slurm,sge,direct")
    ap.add_argument("--item-seconds", type=float, default=1.0)
    ap.add_argument("--single-seconds", type=float, default=6.0)
    ap.add_argument("--window", type=float, default=300.0, help="faults fall in [10 s, this]")
    ap.add_argument("--faults", default="sshd_restart=2,agent_kill=3,connection_cut=3,"
                    "slurmctld_restart=2,kernel_kill=1,disk_full=1")  # fmt: skip
    ap.add_argument("--deadline", type=float, default=1080.0, help="seconds for the whole run")
    ap.add_argument("--docs", action="store_true", help="write the table into the docs")
    return ap.parse_args(argv)


def schedule(rng: random.Random, spec: str, window: float) -> list[tuple[float, str]]:
    plan = []
    for part in filter(None, spec.split(",")):
        kind, _, count = part.partition("=")
        if kind not in KINDS:
            raise SystemExit(f"unknown fault {kind!r}: one of {', '.join(KINDS)}")
        plan += [(round(rng.uniform(10.0, window), 1), kind) for _ in range(int(count or 1))]
    return sorted(plan)


class Run:
    """One chaos run's directories, profiles and submitting process."""

    def __init__(self, args: argparse.Namespace) -> None:
        from tests.cluster import sandbox as sb
        from tests.cluster import sge

        self.args = args
        self.info = sb.up()
        os.environ["SLURM_CONF"] = self.info.slurm_conf
        self.sge = sge.up() if "sge" in args.backends else None
        self.token = f"chaos-{secrets.token_hex(4)}"
        user = pwd.getpwnam(self.info.ssh_user)
        self.uid = user.pw_uid
        self.base = Path(tempfile.mkdtemp(prefix=f"clusterlab-{self.token}-"))
        self.base.chmod(0o755)  # the sandbox user reaches marks/ and disk/ in it
        self.run = self.base / "run"  # this side's: config, ledger, logins (root only)
        self.run.mkdir(mode=0o700)
        self.marks = self.base / "marks"
        self.disk = self.base / "disk"
        for d in (self.marks, self.disk):
            d.mkdir(mode=0o700)
        self.mounted = False
        if "direct" in args.backends:
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size=256m,mode=0700,uid={self.uid}",
                 "tmpfs", str(self.disk)], check=True,
            )  # fmt: skip
            self.mounted = True
        for d in (self.marks, self.disk):
            os.chown(d, self.uid, user.pw_gid)
        os.environ["CLUSTERLAB_CONFIG_DIR"] = str(self.run / "config")
        os.environ["CLUSTERLAB_DATA_DIR"] = str(self.run / "data")
        os.environ["CLUSTERLAB_LOGIN_DIR"] = str(self.run / "login")
        self.profiles()
        self.conf = {
            "backends": args.backends.split(","),
            "items": args.items,
            "singles": args.singles,
            "mark_dir": str(self.marks),
            "item_seconds": args.item_seconds,
            "single_seconds": args.single_seconds,
            "deadline": time.time() + args.deadline - 60,
        }
        (self.run / "config.json").write_text(json.dumps(self.conf))
        self.client: subprocess.Popen[str] | None = None
        self.clients = 0
        self.switching = threading.Lock()  # held while the kernel is killed and replaced

    def profiles(self) -> None:
        from tests.conftest import ssh_profile

        import clusterlab as cl

        info, home = self.info, self.info.user_home
        made = {
            "slurm": ssh_profile(info, "slurm", remote_dir=f"~/cl-chaos/{self.token}/slurm",
                                 poll_interval=2.0),
            "direct": ssh_profile(info, "direct", scheduler="direct", max_concurrent=8,
                                  remote_dir=str(self.disk / "direct"), poll_interval=2.0),
        }  # fmt: skip
        if self.sge is not None:
            made["sge"] = ssh_profile(
                info, "sge", scheduler="sge", sge_settings=self.sge.settings,
                remote_dir=f"~/cl-chaos/{self.token}/sge", poll_interval=2.0,
            )  # fmt: skip
        for name in self.args.backends.split(","):
            cl.profiles.save(made[name])
        self.remote_dirs = [Path(home) / "cl-chaos" / self.token, self.disk / "direct"]

    def start_client(self, mode: str) -> None:
        self.clients += 1
        log = open(self.run / f"client.{self.clients}.log", "w")  # noqa: SIM115
        self.client = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "chaos_client.py"), str(self.run), mode],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=str(ROOT),
        )

    def kernel_kill(self) -> str:
        if not (self.run / "state.json").exists():
            deadline = time.time() + 120  # kill a kernel whose jobs the scheduler accepted
            while not (self.run / "state.json").exists() and time.time() < deadline:
                time.sleep(0.5)
        with self.switching:
            assert self.client is not None
            if self.client.poll() is not None:
                return "SKIPPED: the kernel had already collected everything"
            self.client.kill()
            self.client.wait()
            self.start_client("reattach")
        return "submitting kernel SIGKILLed; a new one reattached"

    def cleanup(self) -> None:
        faults.connection_cut(self.run / "login")  # the shared login's master (8 h) too
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.disk)], check=False)
        shutil.rmtree(Path(self.info.user_home) / "cl-chaos" / self.token, ignore_errors=True)


def inject(run: Run, plan: list[tuple[float, str]], t0: float, log: list[dict[str, Any]],
           stop: threading.Event) -> None:  # fmt: skip
    for at, kind in plan:
        if stop.wait(max(0.0, t0 + at - time.time())):
            return
        started = time.time() - t0
        try:
            if kind == "sshd_restart":
                what = faults.sshd_restart()
            elif kind == "slurmctld_restart":
                what = faults.slurmctld_restart()
            elif kind == "connection_cut":
                what = faults.connection_cut(run.run / "login")
            elif kind == "agent_kill":
                what = faults.agent_kill(run.token, run.uid)
            elif kind == "disk_full":
                what = faults.disk_full(run.disk)
            else:
                what = run.kernel_kill()
        except Exception as exc:  # reported in the run's output: the fault did not happen
            what = f"FAILED to inject: {exc!r}"
        log.append({"at": round(started, 1), "kind": kind, "what": what})
        print(f"[{started:6.1f} s] {kind}: {what}", flush=True)


def executions(marks: Path) -> Counter[tuple[str, str, int]]:
    """How often each (backend, kind, index) ran, from the marker files."""
    out: Counter[tuple[str, str, int]] = Counter()
    for p in marks.iterdir():
        backend, kind, index = p.name.split(".")[:3]
        out[(backend, kind, int(index))] += 1
    return out


def leftovers(run: Run) -> list[str]:
    """Jobs of this run not in a final state (ledger), still known to their scheduler as
    running or pending, or processes still running in its job dirs."""
    import clusterlab as cl

    found = []
    for row in cl.jobs():
        if row.state not in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "LOST"):
            found.append(f"ledger: {row.id} ({row.profile}) is {row.state}")
        if row.profile == "slurm" and row.native_id:
            base = row.native_id.split("_")[0]
            res = subprocess.run(["squeue", "-h", "-j", base, "-o", "%i %T"],
                                 capture_output=True, text=True, check=False)  # fmt: skip
            found += [f"squeue: {line}" for line in res.stdout.splitlines() if line.strip()]
    sge_ids = {
        part.split(".")[0]
        for row in cl.jobs(profile="sge")
        for part in (row.native_id or "").split(",")
    }
    if run.sge is not None and sge_ids:
        from tests.cluster import sge

        listed = sge._sge("qstat", "-u", "*", check=False).stdout.splitlines()[2:]
        found += [f"qstat: {line}" for line in listed if line.split()[:1] and
                  line.split()[0] in sge_ids]  # fmt: skip
    roots = [str(d).encode() for d in run.remote_dirs]
    for pid, _, cmd in faults._procs():
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd").encode()
        except OSError:
            continue
        if any(cwd.startswith(r) for r in roots) and b"chaos-filler" not in cmd:
            found.append(f"process {pid} still runs in {cwd.decode()}: {cmd[:80]!r}")
    return found


def figures(run: Run, wall: dict[str, float]) -> list[dict[str, Any]]:
    ran = executions(run.marks)
    rows = []
    for backend in run.conf["backends"]:
        path = run.run / f"results.{backend}.json"
        res = json.loads(path.read_text()) if path.exists() else None
        items = run.args.items + run.args.singles
        good = lost = dup = 0
        noted = run.run / f"reruns.{backend}.jsonl"  # by every kernel, the killed one too
        reruns = [json.loads(x) for x in noted.read_text().splitlines()] if noted.exists() else []
        for kind, count in (("map", run.args.items), ("single", run.args.singles)):
            got = (res or {}).get("map" if kind == "map" else "singles", {})
            for i in range(count):
                ok, value = got.get(str(i), (False, "no result file"))
                if ok and value == [backend, kind, i, i * i]:
                    good += 1
                else:
                    lost += 1
                allowed = 1 + reruns.count(f"{kind} {i}")
                dup += ran[(backend, kind, i)] > allowed
        rows.append({
            "backend": backend, "items": items, "results": good, "lost": lost,
            "duplicated": dup, "rerun after a failure": len(set(reruns)),
            "wall time (s)": round(wall.get(backend, float("nan")), 1),
            "failure reasons": sorted(set((res or {}).get("reasons", {}).values()))[:5],
        })  # fmt: skip
    return rows


def table(rows: list[dict[str, Any]], injected: Counter[str], seed: int, args: Any) -> str:
    cols = ["backend", "items", "results", "lost", "duplicated", "rerun after a failure",
            "faults it went through", "wall time (s)"]  # fmt: skip
    only = {"slurmctld_restart": "slurm", "disk_full": "direct"}  # the rest hit every one
    for r in rows:
        r["faults it went through"] = ", ".join(
            f"{k} {injected[k]}" for k in KINDS if injected.get(k) and only.get(k, r["backend"])
            == r["backend"]
        ) or "none"  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    lines += ["", "| fault | injected |", "| --- | --- |"]
    lines += [f"| {k} | {injected.get(k, 0)} |" for k in KINDS]
    head = (f"Seed {seed}; per backend a map of {args.items} items ({args.item_seconds} s "
            f"each, about) and {args.singles} single jobs ({args.single_seconds} s).")  # fmt: skip
    return head + "\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    print(f"chaos run, seed {seed} (replay: --seed {seed})", flush=True)
    plan = schedule(random.Random(seed), args.faults, args.window)  # noqa: S311 (a schedule)
    if "slurm" not in args.backends:
        plan = [p for p in plan if p[1] != "slurmctld_restart"]
    if "direct" not in args.backends:
        plan = [p for p in plan if p[1] != "disk_full"]
    print("schedule: " + ", ".join(f"{k}@{t}s" for t, k in plan), flush=True)
    run = Run(args)
    print(f"run dir {run.base}", flush=True)
    log: list[dict[str, Any]] = []
    stop = threading.Event()
    t0 = time.time()
    try:
        run.start_client("submit")
        injector = threading.Thread(target=inject, args=(run, plan, t0, log, stop))
        injector.start()
        while time.time() < t0 + args.deadline:
            with run.switching:
                assert run.client is not None
                if run.client.poll() is not None:
                    break  # the last kernel collected everything (or gave up)
            time.sleep(1)
        stop.set()
        injector.join()
        if run.client is not None and run.client.poll() is None:
            print("deadline reached: the client is still collecting", flush=True)
            run.client.kill()
        wall = {}
        for backend in run.conf["backends"]:
            path = run.run / f"results.{backend}.json"
            state = json.loads((run.run / "state.json").read_text())
            if path.exists():
                wall[backend] = json.loads(path.read_text())["t_end"] - state[backend]["t0"]
        rows = figures(run, wall)
        left = leftovers(run)
        injected = Counter(
            e["kind"] for e in log if not e["what"].startswith(("FAILED", "SKIPPED"))
        )
        text = table(rows, injected, seed, args)
        print(text)
        for r in rows:
            if r["failure reasons"]:
                print(f"{r['backend']} failures: {r['failure reasons']}")
        print("left running: " + ("nothing" if not left else "\n  " + "\n  ".join(left)))
        out = ROOT / "bench" / "results" / "chaos.json"
        out.write_text(json.dumps({"seed": seed, "faults": log, "rows": rows,
                                   "left": left, "args": vars(args)}, indent=1))  # fmt: skip
        ok = not left and all(r["lost"] == 0 and r["duplicated"] == 0 for r in rows)
        if args.docs:
            docs = DOCS.read_text()
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t0))
            body = f"{START}\nRun {when} on this project's machine (2 cores). {text}\n"
            body += f"\nLeft running afterwards: {'nothing' if not left else len(left)}.\n{END}"
            if START in docs:
                docs = docs[: docs.index(START)] + body + docs[docs.index(END) + len(END) :]
            else:
                docs = docs.replace("## Known limits", f"## Chaos run\n\n{body}\n\n## Known limits")
            DOCS.write_text(docs)
        print("PASS" if ok else "FAIL", flush=True)
        return 0 if ok else 1
    finally:
        stop.set()
        if run.client is not None and run.client.poll() is None:
            run.client.kill()
        run.cleanup()


if __name__ == "__main__":
    sys.exit(main())
