"""SLURM accounting for the sandbox: a private MariaDB, slurmdbd, and the associations.

Why: `sacct` (Elapsed, TotalCPU, MaxRSS, ReqMem), `sshare` (fair share) and
`sacctmgr show assoc` (the user's accounts) exist only with slurmdbd and a database, and
right-sizing, discovery and start estimates are built on them. Everything lives under the
sandbox base dir (database files included) and listens on 127.0.0.1 only; no systemd:
the daemons are started by hand, like the rest of the sandbox.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

DB_PORT = 6833  # not MariaDB's 3306, so a system database never meets this one
DBD_PORT = 6819  # slurmdbd's default
DB_NAME = "slurm_acct_db"
DB_USER = "slurm"
ACCOUNTS = ("clusterlab", "clusterlab-extra")  # the user's default account comes first
# QOS the user may choose ("normal", SLURM's own, is the default); slurm.conf's
# AccountingStorageEnforce=associations,limits,qos makes SLURM refuse others and their
# limits, as real sites do.
EXTRA_QOS = "quick"
EXTRA_QOS_MAX_WALL = "00:30:00"
EXTRA_QOS_MAX_SUBMIT = 4  # jobs a user may have queued in it (sites' MaxSubmitJobsPerUser)
QOS = ("normal", EXTRA_QOS)


def _run(*cmd: str | Path, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], check=check, capture_output=True, text=True, **kw)  # type: ignore[call-overload, no-any-return]


def _alive(pidfile: Path, exe: str) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (OSError, ValueError, IndexError):
        return False
    return Path(argv0).name == exe


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Accounting:
    """Paths and steps for one sandbox base dir (`slurm_dir` holds slurm.conf)."""

    def __init__(self, base: Path, slurm_conf: Path) -> None:
        self.base = base
        self.slurm_conf = slurm_conf
        self.db_dir = base / "db"
        self.data = self.db_dir / "data"
        self.cnf = self.db_dir / "my.cnf"
        self.socket = self.db_dir / "mariadb.sock"
        # mariadbd runs as `mysql`: its socket, pid file and log live in its own dir.
        self.db_pid = self.db_dir / "mariadb.pid"
        self.db_log = self.db_dir / "mariadb.log"
        self.password_file = self.db_dir / "slurm.password"
        # slurmdbd reads slurmdbd.conf from the directory of SLURM_CONF.
        self.dbd_conf = slurm_conf.parent / "slurmdbd.conf"
        self.dbd_pid = base / "run" / "slurmdbd.pid"
        self.dbd_log = base / "log" / "slurmdbd.log"

    # ------------------------------------------------------------------ MariaDB

    def cnf_text(self) -> str:
        return f"""\
[mysqld]
datadir={self.data}
socket={self.socket}
pid-file={self.db_pid}
log-error={self.db_log}
port={DB_PORT}
bind-address=127.0.0.1
skip-name-resolve
user=mysql
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
innodb_lock_wait_timeout=900
[client]
socket={self.socket}
port={DB_PORT}
"""

    def _sql(self, statement: str) -> str:
        """As root over the socket (unix_socket auth: we are root)."""
        out = _run("mariadb", f"--defaults-file={self.cnf}", "-uroot", "-N", "-e", statement)
        return out.stdout

    def _db_ok(self) -> bool:
        if not _alive(self.db_pid, "mariadbd"):
            return False
        ping = _run("mariadb-admin", f"--defaults-file={self.cnf}", "-uroot", "ping", check=False)
        return ping.returncode == 0

    def ensure_database(self, timeout: float = 60.0) -> None:
        """Initialise the data dir once, start mariadbd, create slurmdbd's login."""
        self.db_dir.mkdir(parents=True, exist_ok=True)
        self.db_dir.chmod(0o755)  # clients reach the socket; only mysql writes here
        shutil.chown(self.db_dir, "mysql", "mysql")
        text = self.cnf_text()
        if not self.cnf.exists() or self.cnf.read_text() != text:
            self.cnf.write_text(text)
            self.cnf.chmod(0o644)
        if self._db_ok():
            return
        if not (self.data / "mysql").is_dir():
            self.data.mkdir(mode=0o700, exist_ok=True)
            shutil.chown(self.data, "mysql", "mysql")
            _run(
                "mariadb-install-db", f"--defaults-file={self.cnf}", "--skip-test-db",
                "--auth-root-authentication-method=socket",
            )  # fmt: skip
        Path("/run/mysqld").mkdir(mode=0o755, exist_ok=True)
        shutil.chown("/run/mysqld", "mysql", "mysql")
        subprocess.Popen(
            ["/usr/sbin/mariadbd", f"--defaults-file={self.cnf}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives pytest / the CLI that started it
        )
        deadline = time.monotonic() + timeout
        while not self._db_ok():
            if time.monotonic() > deadline:
                raise RuntimeError(f"MariaDB did not start\n{_tail(self.db_log)}")
            time.sleep(0.1)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_hex(16))
            self.password_file.chmod(0o600)
        password = self.password_file.read_text().strip()
        for host in ("127.0.0.1", "localhost"):
            self._sql(
                f"CREATE USER IF NOT EXISTS '{DB_USER}'@'{host}' IDENTIFIED BY '{password}';"
                f"ALTER USER '{DB_USER}'@'{host}' IDENTIFIED BY '{password}';"
                f"GRANT ALL ON {DB_NAME}.* TO '{DB_USER}'@'{host}';"
            )

    # ------------------------------------------------------------------ slurmdbd

    def dbd_conf_text(self, host: str) -> str:
        password = self.password_file.read_text().strip()
        return f"""\
AuthType=auth/munge
DbdHost={host}
DbdPort={DBD_PORT}
SlurmUser=root
LogFile={self.dbd_log}
PidFile={self.dbd_pid}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={DB_PORT}
StorageUser={DB_USER}
StoragePass={password}
StorageLoc={DB_NAME}
"""

    def _env(self) -> dict[str, str]:
        import os

        return {**os.environ, "SLURM_CONF": str(self.slurm_conf)}

    def _sacctmgr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("sacctmgr", *args, check=check, env=self._env(), timeout=30)

    def dbd_ok(self) -> bool:
        """slurmdbd runs and listens (a port check, not a query: ~0.2 s each, and a warm
        `up` must stay fast)."""
        if not _alive(self.dbd_pid, "slurmdbd"):
            return False
        try:
            with socket.create_connection(("127.0.0.1", DBD_PORT), timeout=0.5):
                return True
        except OSError:
            return False

    def ensure_slurmdbd(self, host: str, timeout: float = 30.0) -> None:
        """slurmdbd needs slurm.conf beside its own conf (the caller writes it first)."""
        text = self.dbd_conf_text(host)
        changed = not self.dbd_conf.exists() or self.dbd_conf.read_text() != text
        if changed:
            self.stop_slurmdbd()
            self.dbd_conf.write_text(text)
        self.dbd_conf.chmod(0o600)  # slurmdbd refuses a conf others can read (password)
        if not changed and self.dbd_ok():
            return
        self.stop_slurmdbd()
        started = _run("/usr/sbin/slurmdbd", env=self._env(), check=False)
        if started.returncode != 0:
            raise RuntimeError(f"slurmdbd did not start: {started.stderr}\n{_tail(self.dbd_log)}")
        deadline = time.monotonic() + timeout
        while not self.dbd_ok():
            if time.monotonic() > deadline:
                raise RuntimeError(f"slurmdbd did not answer\n{_tail(self.dbd_log)}")
            time.sleep(0.1)

    def stop_slurmdbd(self) -> None:
        _stop(self.dbd_pid, "slurmdbd")

    def stop_database(self) -> None:
        _stop(self.db_pid, "mariadbd", timeout=30)

    # ------------------------------------------------------------------ associations

    def ensure_associations(self, cluster: str, user: str) -> None:
        """The cluster, the accounts, the QOS and the user's associations (default account
        ACCOUNTS[0], QOS QOS). A stamp inside the data dir (gone with the database) skips
        the check when warm."""
        stamp = self.data / "clusterlab-associations"
        wanted = (
            f"{cluster} {user} {','.join(ACCOUNTS)} {','.join(QOS)} DenyOnLimit "
            f"MaxSubmitJobsPerUser={EXTRA_QOS_MAX_SUBMIT}\n"
        )
        if stamp.exists() and stamp.read_text() == wanted:
            return
        clusters = self._sacctmgr("-n", "-P", "show", "cluster", "format=cluster").stdout.split()
        if cluster not in clusters:
            self._sacctmgr("-i", "add", "cluster", cluster)
        for account in ACCOUNTS:
            self._sacctmgr(
                "-i", "add", "account", account, f"cluster={cluster}",
                "Description=clusterlab sandbox", "Organization=clusterlab", check=False,
            )  # fmt: skip
        self._sacctmgr(
            "-i", "add", "user", user, f"account={','.join(ACCOUNTS)}",
            f"DefaultAccount={ACCOUNTS[0]}", f"cluster={cluster}", check=False,
        )  # fmt: skip
        qos = self._sacctmgr("-n", "-P", "show", "qos", "format=name").stdout.split()
        if EXTRA_QOS not in qos:
            self._sacctmgr("-i", "add", "qos", EXTRA_QOS)
        # DenyOnLimit: a request over the limit is refused at submit instead of pending
        # forever (reason QOSMaxWallDurationPerJobLimit).
        settings = (
            f"MaxWall={EXTRA_QOS_MAX_WALL}",
            f"MaxSubmitJobsPerUser={EXTRA_QOS_MAX_SUBMIT}",
            "Priority=100",
            "Flags=DenyOnLimit",
        )
        self._sacctmgr("-i", "modify", "qos", "where", f"name={EXTRA_QOS}", "set", *settings)
        self._sacctmgr(
            "-i", "modify", "user", "where", f"name={user}", f"cluster={cluster}",
            "set", f"qos={','.join(QOS)}", check=False,
        )  # fmt: skip
        have = self._user_assocs(cluster, user)
        if have != {a: set(QOS) for a in ACCOUNTS}:
            raise RuntimeError(f"sacctmgr did not create {user}'s associations (has {have})")
        stamp.write_text(wanted)

    def _user_assocs(self, cluster: str, user: str) -> dict[str, set[str]]:
        """The user's accounts, each with its allowed QOS."""
        out = self._sacctmgr(
            "-n", "-P", "show", "assoc", f"cluster={cluster}", f"user={user}", "format=account,qos"
        ).stdout
        rows = [line.split("|") for line in out.splitlines() if "|" in line]
        return {acc: set(filter(None, qos.split(","))) for acc, qos in rows}


def _stop(pidfile: Path, exe: str, timeout: float = 10.0) -> None:
    """SIGTERM, wait, SIGKILL: one daemon this module started, found by its pid file."""
    import os
    import signal

    if not _alive(pidfile, exe):
        return
    pid = int(pidfile.read_text().split()[0])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pidfile, exe) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pidfile, exe):
        os.kill(pid, signal.SIGKILL)
