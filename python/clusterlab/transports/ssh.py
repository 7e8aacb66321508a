"""Commands over SSH with paramiko: one persistent connection per host, keys verified.

Why paramiko: pure Python (no ssh binary or ControlMaster sockets to manage), channels
multiplex over one connection so a whole poll is one round trip, and it ships an
OpenSSH-compatible config parser and known_hosts handling we reuse instead of rewriting.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shlex
import threading
from collections.abc import Iterator, Sequence
from typing import Any, cast

import paramiko

from ..common import prompts
from ..common.errors import HostKeyError, TransportError
from ..config.profile import Profile
from . import known_hosts as kh
from .base import CommandResult, Transport, timeout_message
from .paramiko_auth import PromptingClient, answer_prompt
from .proxysock import ProxySocket
from .rekey import RekeySafeTransport
from .ssh_endpoint import CONNECT_TIMEOUT, Endpoint, certified_key, resolve_endpoint
from .stream import Stream, bounded_lines

SEND_PIECE = 256 * 1024  # bytes per sendall() call when streaming stdin
WINDOW = 16 * 1024 * 1024  # per-channel window: large uploads and downloads stream


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:...`` form, so users can compare it with ``ssh-keygen -lf``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    """Unknown host: refuse, naming the fingerprint and how to trust it."""

    def __init__(self, known_hosts: str, host: str, port: int, markers: kh.Markers) -> None:
        self.known_hosts, self.host, self.port = known_hosts, host, port
        self.markers = markers

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        kh.refuse_revoked(self.markers, key, hostname, self.known_hosts)
        if self.markers.authorities:
            raise HostKeyError(
                f"the SSH host key of {hostname} is not known ({key.get_name()} "
                f"{fingerprint(key)}) and clusterlab cannot check host certificates "
                f"(@cert-authority lines in known_hosts). Add the host's own key: "
                f"`ssh-keyscan -p {self.port} {self.host} >> {self.known_hosts}`, after "
                "checking its fingerprint with your admins."
            )
        raise HostKeyError(
            f"the SSH host key of {hostname} is not known ({key.get_name()} {fingerprint(key)}). "
            f"Check this fingerprint with your cluster's documentation or admins, then trust it "
            f"by connecting once with `ssh -p {self.port} {self.host}` and answering 'yes', or "
            f"with `ssh-keyscan -p {self.port} {self.host} >> {self.known_hosts}`; or set "
            f"trust_on_first_use=True on the profile (only on a network you trust)."
        )


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Opt-in TOFU: remember a new host's key in the profile's known_hosts file."""

    def __init__(self, known_hosts: str) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        keys = client.get_host_keys()
        kh.refuse_other_type(keys, hostname, key, self.known_hosts)
        keys.add(hostname, key.get_name(), key)
        directory = os.path.dirname(self.known_hosts)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        # Append one line rather than rewriting the user's file (keeps their comments).
        fd = os.open(self.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class SSHTransport(Transport):
    """A paramiko connection, opened lazily, shared by every job to the host."""

    def __init__(self, profile: Profile) -> None:
        super().__init__()
        self.profile = profile
        self.endpoint = resolve_endpoint(profile)
        self.label = f"ssh {self.endpoint.user}@{self.endpoint.hostname}:{self.endpoint.port}"
        self._lock = threading.Lock()
        self._clients: list[paramiko.SSHClient] = []  # jump hosts first, target last

    # -- connection -------------------------------------------------------------------------
    def client_for(
        self, ep: Endpoint, sock: Any = None, password: str | None = None
    ) -> paramiko.SSHClient:
        """A connected client for one hop, host key verified. Public for the key set-up
        (sshkeys.py), which logs in once with a password (never stored) to install a key."""
        known_hosts = os.path.expanduser(self.profile.known_hosts)
        client = PromptingClient()
        where = f"{ep.user}@{ep.hostname}:{ep.port}"
        client.answer = lambda prompt, echo: answer_prompt(self.profile, where, prompt, echo)
        markers = kh.Markers()
        for path in ("/etc/ssh/ssh_known_hosts", known_hosts):
            if os.path.isfile(path):
                kh.load(path, client.get_host_keys(), markers)
        policy: paramiko.MissingHostKeyPolicy = (
            _TrustOnFirstUse(known_hosts)
            if self.profile.trust_on_first_use
            else _RefuseUnknown(self.profile.known_hosts, ep.hostname, ep.port, markers)
        )
        client.set_missing_host_key_policy(policy)
        where = f"{ep.user}@{ep.hostname}:{ep.port}"
        try:
            if sock is None and ep.proxy_command:
                sock = ProxySocket(ep.proxy_command)
            pkey = certified_key(ep) if password is None else None
            client.connect(
                ep.hostname,
                port=ep.port,
                username=ep.user,
                pkey=pkey,
                key_filename=None if password or pkey else cast(Any, ep.key_files or None),
                password=password,
                allow_agent=password is None and not ep.identities_only,
                look_for_keys=password is None and not ep.key_files,
                timeout=ep.connect_timeout,
                banner_timeout=ep.connect_timeout,
                auth_timeout=ep.connect_timeout,
                sock=sock,
                transport_factory=_aead_first,
            )
        except (HostKeyError, prompts.PromptUnanswered):
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"the SSH host key of {_known_hosts_name(ep.hostname, ep.port)} has CHANGED: "
                f"it offered {exc.key.get_name()} {fingerprint(exc.key)} but "
                f"{self.profile.known_hosts} has {fingerprint(exc.expected_key)}. This can "
                "mean someone is intercepting the connection, or the host was reinstalled. "
                "Ask your admins; if the change is expected, remove the old line with "
                f"`ssh-keygen -R '{_known_hosts_name(ep.hostname, ep.port)}' -f "
                f"{self.profile.known_hosts}` and connect again."
            ) from None
        except paramiko.PasswordRequiredException:
            client.close()
            raise TransportError(
                f"{where}: the key file is protected by a passphrase; clusterlab never "
                "stores passphrases: load the key into ssh-agent with `ssh-add KEYFILE`"
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            if client.failure is not None:  # a prompt nobody (or askpass) could answer
                raise client.failure from None
            raise TransportError(
                f"{where}: authentication failed ({exc}). Check the user name and that your "
                "public key is in ~/.ssh/authorized_keys on the host (`ssh-copy-id` installs "
                "it), or set key_file on the profile."
            ) from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            raise TransportError(
                f"cannot reach {where}: {exc}. Check the host name and port, and your VPN or "
                "network; `ssh` from a terminal shows the same problem if it is the network."
            ) from None
        transport = client.get_transport()
        if transport is not None and markers.revoked:
            try:
                kh.refuse_revoked(markers, transport.get_remote_server_key(), where, known_hosts)
            except HostKeyError:
                client.close()
                raise
        return client

    def _connect(self) -> paramiko.Transport:
        """Connect through any ProxyJump chain (jump hosts first); caller holds the lock."""
        self._close_clients()
        chain = [self._hop(h) for h in self.endpoint.proxy_jump.split(",") if h.strip()]
        chain.append(self.endpoint)
        sock = None
        for i, ep in enumerate(chain):
            client = self.client_for(ep, sock)
            self._clients.append(client)
            if i + 1 < len(chain):
                nxt = chain[i + 1]
                hop_transport = client.get_transport()
                assert hop_transport is not None
                sock = hop_transport.open_channel(
                    "direct-tcpip", (nxt.hostname, nxt.port), ("127.0.0.1", 0)
                )
        transport = self._clients[-1].get_transport()
        assert transport is not None
        transport.set_keepalive(self.endpoint.keepalive)
        return transport

    def _hop(self, spec: str) -> Endpoint:
        """A ProxyJump entry ``[user@]host[:port]``, itself looked up in ~/.ssh/config."""
        user, _, hostport = spec.strip().rpartition("@")
        host, _, port = hostport.partition(":")
        ep = resolve_endpoint(self.profile, host)
        ep.user = user or ep.user
        ep.port = int(port) if port else ep.port
        return ep

    def _transport(self, fresh: bool = False) -> paramiko.Transport:
        with self._lock:
            current = self._clients[-1].get_transport() if self._clients else None
            if fresh or current is None or not current.is_active():
                current = self._connect()
            return current

    # -- commands ---------------------------------------------------------------------------
    def _open_session(self) -> paramiko.Channel:
        """A new channel; a dropped connection is re-opened once (nothing was sent yet)."""
        try:
            return self._transport().open_session(window_size=WINDOW, timeout=CONNECT_TIMEOUT)
        except (paramiko.SSHException, EOFError, OSError):
            transport = self._transport(fresh=True)
            return transport.open_session(window_size=WINDOW, timeout=CONNECT_TIMEOUT)

    def _run(
        self, argv: Sequence[str], stdin: bytes | None, timeout: float | None
    ) -> CommandResult:
        command = shlex.join(argv)
        chan = self._open_session()
        errors: list[bytes] = []
        try:
            chan.settimeout(timeout)
            chan.exec_command(command)
            reader = threading.Thread(target=_drain_stderr, args=(chan, errors), daemon=True)
            reader.start()
            # paramiko's sendall re-slices what is left after every 32 KB packet, which is
            # quadratic for a 200 MB payload (0.6 MB/s measured); bounded pieces keep it linear.
            for start in range(0, len(stdin or b""), SEND_PIECE):
                chan.sendall((stdin or b"")[start : start + SEND_PIECE])
            chan.shutdown_write()
            out = bytearray()
            while chunk := chan.recv(1 << 16):
                out += chunk
            reader.join()
            code = chan.recv_exit_status()
            if code == -1:  # the channel closed without an exit status: the link dropped
                raise EOFError("no exit status (the connection closed)")
        except TimeoutError:
            raise TransportError(timeout_message(self.label, argv, timeout or 0)) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise TransportError(
                f"{self.label}: the connection dropped while running `{argv[0]}` ({exc}); "
                "it will be re-opened for the next command"
            ) from None
        finally:
            # closing a channel of a link that just died raises EOFError itself, which
            # would replace the TransportError that says what happened
            with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
                chan.close()
        return CommandResult(code, bytes(out), b"".join(errors))

    def open_stream(self, argv: Sequence[str]) -> Stream:
        """``argv`` on an exec channel of this connection, talking in lines; it ends when
        the channel or the connection closes (sshd closes its stdin)."""
        chan = self._open_session()
        try:
            chan.exec_command(shlex.join(argv))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
                chan.close()
            raise TransportError(f"{self.label}: could not start `{argv[0]}` ({exc})") from None
        return ChannelStream(chan, self.label)

    def _close_clients(self) -> None:
        for client in reversed(self._clients):
            client.close()
        self._clients = []

    def close(self) -> None:
        with self._lock:
            self._close_clients()


AEAD_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _aead_first(sock: Any, **kwargs: Any) -> paramiko.Transport:
    """A paramiko transport that prefers AES-GCM when the server offers it. paramiko lists
    it after AES-CTR, whose separate HMAC it computes in Python for every 32 KB packet: a
    200 MB argument went up at ~260 MB/s with CTR and ~440 MB/s with GCM here. Servers
    without GCM get paramiko's usual order."""
    transport = RekeySafeTransport(sock, **kwargs)  # see rekey.py: paramiko issue #822
    options = transport.get_security_options()
    options.ciphers = (
        *[c for c in AEAD_CIPHERS if c in options.ciphers],
        *[c for c in options.ciphers if c not in AEAD_CIPHERS],
    )
    return transport


def _drain_stderr(chan: paramiko.Channel, sink: list[bytes]) -> None:
    """Collect stderr until it ends. The channel's timeout is about silence on stdout (the
    command's answer); a quiet stderr is normal, so wait on until the channel closes."""
    while True:
        try:
            chunk = chan.recv_stderr(1 << 16)
        except TimeoutError:
            if chan.closed:
                return
            continue
        if not chunk:
            return
        sink.append(chunk)


class ChannelStream(Stream):
    """An exec channel of an SSH connection: when it (or the connection) closes, sshd
    closes the command's stdin and the command exits."""

    def __init__(self, chan: paramiko.Channel, label: str) -> None:
        super().__init__()
        self.chan = chan
        self.label = label
        self._out = chan.makefile("rb")
        self._start_drain(self._drain_channel)

    def _drain_channel(self) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            while chunk := self.chan.recv_stderr(1 << 14):
                self._keep_stderr(chunk)

    def write(self, data: bytes) -> None:
        try:
            self.chan.sendall(data)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise TransportError(f"{self.label}: the channel is closed ({exc})") from None

    def lines(self) -> Iterator[bytes]:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            yield from bounded_lines(self._out.readline)  # a cut last line: it ended

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.chan.shutdown_write()  # stdin closes: the command exits, stderr ends
        self._drained(1.0)
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.chan.close()
