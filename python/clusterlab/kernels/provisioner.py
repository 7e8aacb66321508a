"""jupyter_client's kernel provisioner for a profile's kernel: a job runs it, SSH reaches it.

Start: a clusterlab job (the executor's own submission: resource validation, quoting, a
0700 job dir, the ledger, so the jobs panel lists it) runs :func:`.supervisor.supervise`
with the profile's Python; that starts ipykernel on the node and writes where it listens.
While the job waits in the queue the scheduler's reason goes to the log; past
``start_timeout`` the job is cancelled and the start fails with a sentence. The kernel's
ports are forwarded to this machine's loopback through the profile's shared login
(:mod:`.forwards`); a profile without SSH connects to the node directly.

Lifecycle: interrupt and restart are command files for the supervisor (see its module):
a restart starts a new kernel in the SAME allocation while the job lives, and a new job
only when it ended; shutdown stops the supervisor, cancels the job if it lingers, drops
the forwards and removes the control dir (it holds the connection file with the key).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from traitlets import Dict, Float, Unicode

from . import owners
from .forwards import Forwards
from .specs import DEFAULT_START_TIMEOUT

WAIT_STEP = 0.5  # seconds between looks at the control dir while a kernel starts
LOG_TAIL = 2000  # characters of a kernel's output shown when it ended before it listened
STOP_GRACE = 10.0  # seconds the supervisor has to end the job before it is cancelled

_MKDIR = 'umask 077; mkdir -p -- "$1" && chmod 700 -- "$1"'
_COMMAND = (
    'umask 077; printf "%s\\n" "$2" > "$1/.cmd-$3.tmp" && mv -f -- "$1/.cmd-$3.tmp" "$1/cmd-$3"'
)


class ClusterlabProvisioner(KernelProvisionerBase):
    """A kernel in a job of a clusterlab profile (see the module docstring)."""

    profile = Unicode("", config=True, help="the clusterlab profile whose cluster runs it")
    resources = Dict({}, config=True, help="resources of the kernel's job (cores, time...)")
    start_timeout = Float(
        DEFAULT_START_TIMEOUT, config=True, help="seconds a start may wait in the queue"
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job: Any = None  # the clusterlab Job that holds the allocation
        self.control = ""  # the kernel's control dir on the cluster
        self.generation = -1  # which kernel of this allocation is the current one
        self.exit_code: int | None = None
        self.forwards: Forwards | None = None
        self.remote_pid: int | None = None
        self._commands = itertools.count()
        self._runtime: Any = None

    # -- what jupyter_client asks ---------------------------------------------------------
    @property
    def has_process(self) -> bool:
        return self.job is not None and self.generation >= 0

    async def poll(self) -> int | None:
        if self.exit_code is not None or not self.has_process:
            return self.exit_code if self.exit_code is not None else 0
        self.exit_code = await asyncio.to_thread(self._exit_code)
        return self.exit_code

    async def wait(self) -> int | None:
        while (code := await self.poll()) is None:
            await asyncio.sleep(WAIT_STEP)
        return code

    async def send_signal(self, signum: int) -> None:
        """SIGINT (an interrupt) and any other signal go to the kernel process on the node."""
        if self.has_process and self.exit_code is None:
            await asyncio.to_thread(self._command, f"signal {int(signum)}")

    async def kill(self, restart: bool = False) -> None:
        if self.has_process and self.exit_code is None:
            await asyncio.to_thread(self._command, "stop-kernel")

    async def terminate(self, restart: bool = False) -> None:
        await self.kill(restart)

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("extra_arguments", None)
        kwargs["cmd"] = list(self.kernel_spec.argv)  # shown in logs; the job runs its own
        return dict(await super().pre_launch(**kwargs))

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        return await asyncio.to_thread(self._launch)

    async def cleanup(self, restart: bool = False) -> None:
        if self.forwards is not None:
            await asyncio.to_thread(self.forwards.close)
            self.forwards = None
        if not restart:
            await asyncio.to_thread(self._end_job)

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        return max(recommended, 10.0)  # each poll is a round trip to the cluster

    async def get_provisioner_info(self) -> dict[str, Any]:
        info = dict(await super().get_provisioner_info())
        info.update(
            profile=self.profile,
            job=getattr(self.job, "id", None),
            native_id=getattr(self.job, "native_id", None),
            control=self.control,
            generation=self.generation,
        )
        return info

    # -- the work, on a worker thread -------------------------------------------------------
    def _profile(self) -> Any:
        from .. import profiles

        return profiles.load(profiles.require(self.profile))

    def _transport(self) -> Any:
        from ..core.runtime import get_runtime

        if self._runtime is None:
            self._runtime = get_runtime(self._profile())
        return self._runtime.transport

    def _run(self, script: str, *args: str) -> None:
        done = self._transport().run(["sh", "-c", script, "sh", *args])
        if done.returncode != 0:
            raise RuntimeError(
                f"profile {self.profile!r}: a command on the cluster for the kernel's control "
                f"dir {self.control} failed: {done.err.strip()[-300:]}"
            )

    def _command(self, text: str) -> None:
        self._run(_COMMAND, self.control, text, str(next(self._commands)))

    def _read(self, name: str) -> bytes | None:
        return self._read_many([name])[name]

    def _read_many(self, names: list[str]) -> dict[str, bytes | None]:
        """Files of the control dir by name, in one round trip (None: not there)."""
        paths = {f"{self.control}/{name}": name for name in names}
        found: dict[str, bytes | None] = self._transport().read_files(list(paths))
        return {name: found[path] for path, name in paths.items()}

    def _exit_code(self) -> int | None:
        if self.job is not None and self.job.done():
            return 1  # the allocation ended (time limit, cancelled): the kernel with it
        text = self._read(f"exit-{self.generation}")
        if text is None:
            return None
        try:
            return int(text.decode().strip() or 0)
        except ValueError:
            return 1

    def _key(self) -> bytes:
        session = getattr(self.parent, "session", None)
        key = getattr(session, "key", b"")
        if not key:
            import uuid

            key = uuid.uuid4().hex.encode()
            if session is not None:
                session.key = key
        return bytes(key)

    def _launch(self) -> KernelConnectionInfo:
        key = self._key()
        if self.job is not None and not self.job.done():
            self._command("start")  # a restart: a new kernel in the same allocation
            self.generation += 1
            self.log.info("clusterlab: kernel %d starting in job %s", self.generation,
                          self.job.native_id)  # fmt: skip
        else:
            adopted = self._adopt()
            if adopted is None:
                self._submit(key)
            else:
                key = adopted
        try:
            info = self._connect(key)
        except BaseException:
            self._abandon()  # a kernel that cannot be reached must not hold an allocation
            raise
        self._record()
        return info

    def _kernel_name(self) -> str:
        return str(getattr(self.parent, "kernel_name", "") or "")

    def _record(self) -> None:
        """Say in this machine's kernel files that this process holds the job."""
        owners.record(
            owners.Owner(
                kernel_id=self.kernel_id,
                kernel_name=self._kernel_name(),
                profile=self.profile,
                job=self.job.id,
                control=self.control,
                generation=self.generation,
                forwards=list(self.forwards.specs) if self.forwards else [],
            )
        )

    def _adopt(self) -> bytes | None:
        """Take over a live kernel job of this kernelspec whose server went away (killed,
        restarted): a new kernel starts in its allocation, with its key, instead of a
        second job queueing while the first holds its allocation. None: none to adopt."""
        from ..core.model.job import Job
        from ..jobs import job as reattach

        for owner in owners.orphans(self._kernel_name(), self.profile):
            if not owners.claim(owner, self.kernel_id):
                continue  # another start took it
            try:
                job = reattach(owner.job)
                self.control = owner.control
                conn = self._read(f"connection-{owner.generation}.json")
            except Exception as exc:  # gone from the ledger, unreachable: not adoptable
                self.log.warning("clusterlab: kernel job %s not adopted: %s", owner.job, exc)
                owners.forget(self.kernel_id)
                continue
            if not isinstance(job, Job) or job.done() or conn is None:
                owners.forget(self.kernel_id)  # it ended meanwhile: its key goes too
                self._run('rm -rf -- "$1"', owner.control)
                continue
            if owner.forwards:  # the dead server's forwards still ride the shared login
                Forwards(self._transport(), list(owner.forwards)).close()
            self.job = job
            self._commands = itertools.count()
            self._command("start")
            self.generation = owner.generation + 1
            self.log.info(
                "clusterlab: adopted kernel job %s on %s (its Jupyter server went away "
                "without shutting it down): kernel %d starts in the same allocation, no "
                "new job submitted", job.native_id, self.profile, self.generation,
            )  # fmt: skip
            key = str(json.loads(conn)["key"]).encode()
            session = getattr(self.parent, "session", None)
            if session is not None:
                session.key = key
            return key
        return None

    def _connect(self, key: bytes) -> KernelConnectionInfo:
        ready = self._wait_ready()
        self.exit_code = None
        self.remote_pid = int(ready["pid"])
        ports = [int(p) for p in ready["ports"]]
        ip = str(ready["ip"])
        if self._profile().is_remote:
            self.forwards = Forwards(self._transport())
            ports = self.forwards.open(ip, ports)
            ip = "127.0.0.1"
        from .supervisor import PORT_NAMES

        info: dict[str, Any] = dict(zip(PORT_NAMES, ports, strict=True))
        info.update(ip=ip, key=key, transport="tcp", signature_scheme="hmac-sha256")
        self.log.info("clusterlab: kernel ready on %s in job %s", ready.get("host"),
                      self.job.native_id)  # fmt: skip
        return info  # type: ignore[return-value]

    def _submit(self, key: bytes) -> None:
        import cloudpickle

        from ..api import cluster
        from . import supervisor

        profile = self._profile()
        self._transport()
        base = self._runtime.jobs_root().rsplit("/", 1)[0]  # <remote_dir>, ~ expanded
        self.control = f"{base}/kernels/{self.kernel_id}"
        self._run(_MKDIR, self.control)
        self._commands = itertools.count()
        # the supervisor travels by value: the cluster needs no clusterlab, only ipykernel
        cloudpickle.register_pickle_by_value(supervisor)
        fn = cluster(profile.name, name=f"kernel-{self.kernel_id[:8]}", **self.resources)(
            supervisor.supervise
        )
        self.job = fn.submit(self.control, key.decode())
        self.generation = 0
        self.log.info("clusterlab: kernel job %s submitted to %s", self.job.id, profile.name)

    def _wait_ready(self) -> dict[str, Any]:
        job = self.job
        started = time.monotonic()
        said = ""
        names = [f"ready-{self.generation}.json", f"exit-{self.generation}"]
        names.append(f"kernel-{self.generation}.log")
        while True:
            found = self._read_many(names)
            if found[names[0]]:
                return dict(json.loads(found[names[0]] or b"{}"))
            code = found[names[1]]
            if code is not None:
                output = (found[names[2]] or b"").decode(errors="replace").strip()
                raise RuntimeError(
                    f"the kernel on the cluster (job {job.native_id or job.id}, {self.profile}) "
                    f"exited with code {code.decode().strip()} before it listened; "
                    f"its last output:\n{output[-LOG_TAIL:] or '(none)'}"
                )
            if job.done():
                try:
                    value = job.result()
                except Exception as exc:
                    raise RuntimeError(
                        f"the kernel's job {job.native_id or job.id} on {self.profile} ended "
                        f"before the kernel started: {exc}"
                    ) from exc
                raise RuntimeError(
                    f"the kernel's job {job.native_id or job.id} on {self.profile} ended "
                    f"before the kernel started ({value})"
                )
            now = f"{job.state.value.lower()}: {job.reason}"
            if now != said:
                said = now
                self.log.info("clusterlab: kernel job %s %s", job.native_id or job.id, now)
            if time.monotonic() - started > self.start_timeout:
                raise TimeoutError(  # _launch cancels it
                    f"the kernel's job {job.native_id or job.id} on {self.profile} did not "
                    f"start within {self.start_timeout:g} s ({now}); it was cancelled. Ask "
                    "for fewer resources or another partition, or give a longer "
                    "--start-timeout to `clusterlab kernel install`"
                )
            time.sleep(WAIT_STEP)

    def _abandon(self) -> None:
        """A start that failed: cancel the job (if it still lives) and remove the control
        dir; jupyter_client calls no cleanup for a kernel that never started."""
        job = self.job
        self.generation = -1
        owners.forget(self.kernel_id)
        if job is not None and not job.done():
            job.cancel()
        if self.control:
            self._run('rm -rf -- "$1"', self.control)

    def _end_job(self) -> None:
        job, self.job = self.job, None
        self.generation = -1
        owners.forget(self.kernel_id)
        if job is None:
            return
        if not job.done():
            self._command("stop")
            try:
                job.result(timeout=STOP_GRACE)
            except Exception as exc:  # a timeout here, or the job's own failure
                self.log.info("clusterlab: kernel job %s: %s", job.native_id, exc)
            if not job.done():
                job.cancel()
        self._run('rm -rf -- "$1"', self.control)  # the connection file holds the key
