"""What the kernel's job runs on the node: a small supervisor that (re)starts ipykernel.

It is a clusterlab job like any other (the function :func:`supervise`, shipped by value, so
the cluster needs no clusterlab: stdlib only, imports inside). Keeping the allocation in a
supervisor rather than running ipykernel as the job is what lets a restart start a new
kernel in the SAME allocation, and lets an interrupt reach the kernel process on the node
without an SSH hop to the node: the notebook's side drops one-line command files into the
kernel's control dir (0700, on the shared file system the job dirs already need), and the
supervisor acts on them within a poll (0.1 s).

Files in the control dir (the contract with :mod:`.provisioner`):
  ``cmd-<n>``              a command: ``signal N`` | ``stop-kernel`` | ``start`` | ``stop``
  ``connection-<g>.json``  the connection file of kernel generation ``g`` (0600; the key)
  ``ready-<g>.json``       ``{"ip", "ports", "pid", "host"}`` once kernel ``g`` listens
  ``exit-<g>``             kernel ``g``'s exit code once it ended
  ``kernel-<g>.log``       kernel ``g``'s stdout and stderr (why it ended, if it did)
The key arrives as an argument (in the job's pickled payload, 0600 in the 0700 job dir),
never in the batch script.
"""

from __future__ import annotations

from typing import Any

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
IDLE_LIMIT = 600.0  # seconds with no kernel and no command before the job ends by itself
POLL = 0.1
START_LIMIT = 120.0  # seconds a kernel may take to listen before it is reported anyway


def no_ipykernel_message(python: str) -> str:
    """The sentence for a cluster Python without ipykernel (also used by the provisioner)."""
    return (
        f"the cluster's Python ({python}) has no ipykernel, which a notebook kernel on the "
        f"cluster needs: install it there (`{python} -m pip install ipykernel`), or use "
        "environment='sync' with ipykernel among the profile's packages"
    )


def supervise(control: str, key: str, idle_limit: float = IDLE_LIMIT) -> str:
    """Run ipykernel generations in this allocation until told to stop (see module doc)."""
    import importlib.util
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    if importlib.util.find_spec("ipykernel") is None:
        raise RuntimeError(no_ipykernel_message(sys.executable))

    def address() -> str:
        """The node's own address (what the login host forwards to)."""
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"

    def free_ports(ip: str) -> list[int]:
        held, ports = [], []
        for _ in PORT_NAMES:
            s = socket.socket()
            s.bind((ip, 0))
            held.append(s)
            ports.append(s.getsockname()[1])
        for s in held:
            s.close()
        return ports

    def write(name: str, text: str) -> None:
        tmp = os.path.join(control, f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, os.path.join(control, name))

    def start(gen: int) -> subprocess.Popen[bytes]:
        ip = address()
        ports = free_ports(ip)
        info: dict[str, Any] = dict(zip(PORT_NAMES, ports))  # noqa: B905 - any 3.x
        info.update(ip=ip, key=key, transport="tcp", signature_scheme="hmac-sha256")
        conn = f"connection-{gen}.json"
        write(conn, json.dumps(info))
        log = os.open(os.path.join(control, f"kernel-{gen}.log"), os.O_WRONLY | os.O_CREAT, 0o600)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ipykernel_launcher", "-f", os.path.join(control, conn)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=os.getcwd(),
        )
        os.close(log)
        deadline = time.time() + START_LIMIT
        while proc.poll() is None and time.time() < deadline:  # listening yet?
            try:
                socket.create_connection((ip, ports[0]), timeout=0.5).close()
                break
            except OSError:
                time.sleep(POLL)
        if proc.poll() is None:  # else the loop reports its exit (and the provisioner why)
            ready = {"ip": ip, "ports": ports, "pid": proc.pid, "host": socket.gethostname()}
            write(f"ready-{gen}.json", json.dumps(ready))
        return proc

    def end(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    gen = 0
    proc: subprocess.Popen[bytes] | None = start(gen)
    reported = False
    idle_since = time.time()
    while True:
        commands = sorted(
            (n for n in os.listdir(control) if n.startswith("cmd-")),
            key=lambda n: int(n[4:]) if n[4:].isdigit() else -1,
        )
        for name in commands:
            path = os.path.join(control, name)
            with open(path) as fh:
                words = fh.read().split()
            os.unlink(path)
            idle_since = time.time()
            what = words[0] if words else ""
            if what == "signal" and proc is not None and proc.poll() is None:
                proc.send_signal(signal.Signals(int(words[1])))
            elif what == "stop-kernel" and proc is not None:
                end(proc)
            elif what == "start":
                if proc is not None:
                    end(proc)
                    if not reported:
                        write(f"exit-{gen}", str(proc.returncode))
                gen += 1
                proc, reported = start(gen), False
            elif what == "stop":
                if proc is not None:
                    end(proc)
                    if not reported:
                        write(f"exit-{gen}", str(proc.returncode))
                return f"stopped after {gen + 1} kernel(s)"
        if proc is not None and not reported and proc.poll() is not None:
            write(f"exit-{gen}", str(proc.returncode))
            reported = True
            idle_since = time.time()
        if reported and time.time() - idle_since > idle_limit:
            return f"no kernel for {idle_limit:g} s: the allocation is given back"
        time.sleep(POLL)
