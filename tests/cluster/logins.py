"""The sandbox's site-like login servers: a one-time-code sshd and a certificate-only sshd.

Why real daemons: what breaks at real sites is the login itself (keyboard-interactive
after a key, host certificates, user certificates with no authorized_keys), and only a real
OpenSSH server with a real PAM module says no the way a site does.

- ``mfa``: publickey AND keyboard-interactive; PAM asks for a TOTP code (Debian's
  libpam-oath). The PAM service name is the basename sshd was started as, so the daemon runs
  through a symlink ``clusterlab-mfa-sshd`` with its own ``/etc/pam.d`` file.
- ``cert``: only user certificates signed by the sandbox's user CA (``AuthorizedKeysFile
  none``), and it presents a host certificate signed by the sandbox's host CA.

Codes come from :func:`next_code`: pam_oath refuses a code at or before the last one used,
so each login takes the next unused 30 s step (the window lets us run ahead of the clock).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

PAM_SERVICE = "clusterlab-mfa-sshd"
WINDOW = 200  # TOTP steps pam_oath accepts around now: ~100 logins in a few minutes
STEP = 30


def _dir(base: Path) -> Path:
    d = base / "login"
    d.mkdir(mode=0o755, parents=True, exist_ok=True)
    return d


def _keygen(path: Path, comment: str) -> None:
    if not path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
        )


def sign_user_key(base: Path, pub: Path, user: str, validity: str = "-5m:+52w") -> Path:
    """A user certificate for ``pub`` from the sandbox's user CA (tests make short ones)."""
    d = _dir(base)
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(d / "user_ca"), "-I", f"{user}-test", "-n", user,
         "-V", validity, str(pub)],
        check=True, capture_output=True,
    )  # fmt: skip
    return pub.with_name(pub.name.removesuffix(".pub") + "-cert.pub")


def ensure_material(base: Path, user: str) -> dict[str, str]:
    """CAs, the cert sshd's host key + certificate, a user key signed by the CA (and NOT in
    authorized_keys), and the TOTP secret (hex, root-only)."""
    d = _dir(base)
    _keygen(d / "user_ca", "clusterlab-sandbox user CA")
    _keygen(d / "host_ca", "clusterlab-sandbox host CA")
    _keygen(d / "cert_host_key", "clusterlab-sandbox cert host")
    host_cert = d / "cert_host_key-cert.pub"
    if not host_cert.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-s", str(d / "host_ca"), "-I", "sandbox-host", "-h",
             "-n", "127.0.0.1,localhost", "-V", "-5m:+52w", str(d / "cert_host_key.pub")],
            check=True, capture_output=True,
        )  # fmt: skip
    _keygen(d / "cert_user_key", "clusterlab-sandbox cert user")
    if not (d / "cert_user_key-cert.pub").exists():
        sign_user_key(base, d / "cert_user_key.pub", user)
    secret = d / "otp.secret"
    if not secret.exists():
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(os.urandom(20).hex() + "\n")
    users = d / "users.oath"
    if not users.exists():
        fd = os.open(users, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"HOTP/T30/6 {user} - {secret.read_text().strip()}\n")
    pam = Path("/etc/pam.d") / PAM_SERVICE
    pam_text = (
        "# clusterlab sandbox: a TOTP code after the key (tests/cluster/logins.py)\n"
        f"auth requisite pam_oath.so usersfile={users} window={WINDOW} digits=6\n"
        "account required pam_permit.so\n"
        "session required pam_permit.so\n"
        "password required pam_deny.so\n"
    )
    if not pam.exists() or pam.read_text() != pam_text:
        pam.write_text(pam_text)
    link = d / PAM_SERVICE
    if not link.is_symlink():
        link.symlink_to("/usr/sbin/sshd")
    return {
        "user_ca": str(d / "user_ca"),
        "host_ca_pub": str(d / "host_ca.pub"),
        "cert_key": str(d / "cert_user_key"),
        "otp_secret": str(secret),
    }


def mfa_conf_text(base: Path, port: int, host_key: Path, slurm_conf: Path) -> str:
    d = _dir(base)
    return f"""\
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile {d / "mfa_sshd.pid"}
UsePAM yes
AuthenticationMethods publickey,keyboard-interactive
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
MaxAuthTries 6
AllowTcpForwarding yes
SetEnv SLURM_CONF={slurm_conf}
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def cert_conf_text(base: Path, port: int, slurm_conf: Path) -> str:
    d = _dir(base)
    return f"""\
ListenAddress 127.0.0.1
Port {port}
HostKey {d / "cert_host_key"}
HostCertificate {d / "cert_host_key-cert.pub"}
PidFile {d / "cert_sshd.pid"}
UsePAM no
TrustedUserCAKeys {d / "user_ca.pub"}
AuthorizedKeysFile none
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes yes
AllowTcpForwarding yes
SetEnv SLURM_CONF={slurm_conf}
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def known_hosts_lines(base: Path, mfa_port: int, cert_port: int, host_key: Path) -> str:
    """The MFA sshd by its plain host key; the cert sshd ONLY through its CA."""
    d = _dir(base)
    key_type, key_b64 = host_key.with_suffix(".pub").read_text().split()[:2]
    ca = (d / "host_ca.pub").read_text().split()
    return (
        f"[127.0.0.1]:{mfa_port} {key_type} {key_b64}\n"
        f"@cert-authority [127.0.0.1]:{cert_port} {ca[0]} {ca[1]}\n"
    )


def next_code(base: Path) -> str:
    """The next TOTP code that pam_oath has not seen (one later step per call)."""
    d = _dir(base)
    secret = (d / "otp.secret").read_text().strip()
    with open(d / "otp.counter", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        last = int(fh.read().strip() or 0)
        step = max(int(time.time()) // STEP, last + 1)
        fh.seek(0)
        fh.truncate()
        fh.write(str(step))
    return code_at(secret, step)


def code_at(secret: str, step: int) -> str:
    return subprocess.run(
        ["oathtool", "--totp", "-N", f"@{step * STEP}", secret],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def askpass_command(base: Path) -> str:
    """A profile ``askpass`` that answers with the next code (what a user's oathtool
    wrapper does)."""
    return f"{sys.executable} {Path(__file__).resolve()} code {base}"


if __name__ == "__main__":  # askpass convention: the prompt is the last argument
    if len(sys.argv) >= 3 and sys.argv[1] == "code":
        print(next_code(Path(sys.argv[2])))
