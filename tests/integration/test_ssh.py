"""SSH behaviour against the real sshd on 127.0.0.1: host keys, config, failures."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import paramiko
import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime
from clusterlab.transports import get_transport
from tests.conftest import ssh_profile

pytestmark = pytest.mark.timeout(120)


def test_unknown_host_key_is_refused_with_fingerprint(sandbox: object, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    profile = ssh_profile(sandbox, name="unknownkey", known_hosts=str(empty))
    report = cl.profiles.check(profile)
    assert not report.ok
    detail = report.lines[0].detail
    assert "is not known" in detail and "SHA256:" in detail and "ssh-keyscan" in detail
    assert empty.read_text() == ""  # nothing trusted behind the user's back
    with pytest.raises(cl.HostKeyError):
        get_transport(profile).run(["true"])


def test_changed_host_key_is_refused_even_with_tofu(sandbox: object, tmp_path: Path) -> None:
    other = paramiko.Ed25519Key.from_private_key_file(sandbox.ssh_key)  # type: ignore[attr-defined]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sandbox.ssh_port} ssh-ed25519 {other.get_base64()}\n")  # type: ignore[attr-defined]
    profile = ssh_profile(sandbox, name="changed", known_hosts=str(kh), trust_on_first_use=True)
    with pytest.raises(cl.HostKeyError, match="has CHANGED.*ssh-keygen -R"):
        get_transport(profile).run(["true"])


def test_trust_on_first_use_only_when_opted_in(sandbox: object, tmp_path: Path) -> None:
    kh = tmp_path / "kh"
    profile = ssh_profile(sandbox, name="tofu", known_hosts=str(kh), trust_on_first_use=True)
    assert get_transport(profile).run(["echo", "ok"]).out == "ok\n"
    remembered = kh.read_text()
    assert remembered.startswith(f"[127.0.0.1]:{sandbox.ssh_port} ssh-")  # type: ignore[attr-defined]
    strict = ssh_profile(sandbox, name="strict", known_hosts=str(kh))
    assert get_transport(strict).run(["echo", "ok"]).out == "ok\n"


def test_unreachable_host_is_a_clear_error(sandbox: object) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    profile = ssh_profile(sandbox, name="down", port=closed_port)
    job = cl.cluster(profile)(abs).submit(1)  # a Job that turns FAILED with the sentence
    with pytest.raises(cl.TransportError, match="cannot reach .*Check the host name and port"):
        job.result(timeout=60)
    assert job.state == cl.JobState.FAILED


def test_wrong_key_is_an_authentication_error(sandbox: object, tmp_path: Path) -> None:
    key = tmp_path / "other_key"
    paramiko.Ed25519Key  # noqa: B018 - the class exists; ssh-keygen makes the file
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    profile = ssh_profile(sandbox, name="badkey", key_file=str(key))
    with pytest.raises(cl.TransportError, match="authentication failed.*authorized_keys"):
        get_transport(profile).run(["true"])


@pytest.mark.parametrize("client", ["openssh", "paramiko"])
def test_ssh_config_alias_and_proxyjump(sandbox: object, tmp_path: Path, client: str) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        # the ssh binary checks a jump host against the config's known hosts, as ssh does
        f"Host *\n  UserKnownHostsFile {sandbox.known_hosts}\n\n"  # type: ignore[attr-defined]
        f"Host jumpbox\n  HostName 127.0.0.1\n  Port {sandbox.ssh_port}\n"  # type: ignore[attr-defined]
        f"  User {sandbox.ssh_user}\n  IdentityFile {sandbox.ssh_key}\n\n"  # type: ignore[attr-defined]
        f"Host sbx\n  HostName 127.0.0.1\n  Port {sandbox.ssh_port}\n"  # type: ignore[attr-defined]
        f"  User {sandbox.ssh_user}\n  IdentityFile {sandbox.ssh_key}\n"  # type: ignore[attr-defined]
        "  ProxyJump jumpbox\n"
    )
    profile = cl.Profile(
        name="viaconfig",
        scheduler="slurm",
        host="sbx",
        ssh_config=str(cfg),
        known_hosts=sandbox.known_hosts,  # type: ignore[attr-defined]
        python=sandbox.remote_python,  # type: ignore[attr-defined]
        ssh_client=client,
    )
    cl.profiles.save(profile)
    report = cl.profiles.check("viaconfig")
    assert report.ok, str(report)
    transport = get_runtime(profile).transport
    if client == "paramiko":
        assert len(transport._clients) == 2  # type: ignore[attr-defined]  # jump host + target
    else:
        assert transport.config["proxyjump"] == ["jumpbox"]  # type: ignore[attr-defined]
    assert cl.cluster("viaconfig")(lambda: 5)() == 5


@pytest.mark.parametrize("client", ["openssh", "paramiko"])
def test_dropped_connection_is_reopened(sandbox: object, client: str) -> None:
    profile = ssh_profile(sandbox, name="drop", ssh_client=client, persist=0)
    cl.profiles.save(profile)
    f = cl.cluster("drop")(lambda x: x + 1)
    assert f(1) == 2
    transport = get_runtime(profile).transport
    if client == "paramiko":
        transport._clients[-1].get_transport().close()  # type: ignore[attr-defined]
    else:
        pid = transport.login.state().pid  # type: ignore[attr-defined]
        assert pid
        os.kill(pid, 9)  # the shared login dies (a crash, an admin's kill)
    assert f(2) == 3


def test_key_from_ssh_agent(sandbox: object, tmp_path: Path) -> None:
    """No key_file and no config: the key comes from a running ssh-agent."""
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(
        line.split(";")[0].split("=", 1) for line in agent.splitlines() if "=" in line.split(";")[0]
    )
    try:
        subprocess.run(
            ["ssh-add", sandbox.ssh_key], env={**os.environ, **env}, check=True, capture_output=True
        )  # type: ignore[attr-defined]
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            profile = ssh_profile(
                sandbox, name="agent", key_file="", ssh_config=str(tmp_path / "none")
            )
            transport = get_transport(profile)
            assert transport.run(["echo", "via agent"]).out == "via agent\n"
            transport.close()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)


def test_a_large_argument_is_sent_once_and_reused_by_content(sandbox: object) -> None:
    """Content-addressed blobs: the second job with the same 3 MB argument uploads nothing,
    and the blob sits in a 0700 dir as a 0600 file."""
    profile = ssh_profile(sandbox, name="blobs")
    cl.profiles.save(profile)
    data = os.urandom(3 * 1024 * 1024)
    size = cl.cluster(profile.name)(lambda blob, extra=0: len(blob) + extra)
    runtime = get_runtime(profile)
    before = runtime.blobs.uploaded
    assert size.submit(data).result(timeout=120) == len(data)
    sent = runtime.blobs.uploaded - before
    assert len(data) <= sent < len(data) + 4096
    assert size.submit(data, extra=1).result(timeout=120) == len(data) + 1
    assert runtime.blobs.uploaded - before == sent  # nothing new travelled
    listing = runtime.transport.run(["ls", "-la", runtime.blobs.root])
    assert listing.returncode == 0, listing.err
    lines = listing.out.splitlines()
    assert lines[1].startswith("drwx------")  # the "." entry
    blobs = [line for line in lines if line.endswith(".pkl")]
    assert blobs and all(line.startswith("-rw-------") for line in blobs)
