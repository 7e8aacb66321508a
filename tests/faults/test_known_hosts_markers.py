"""known_hosts files that OpenSSH accepts work here too (review finding: paramiko raised
raw errors on ``@cert-authority``/``@revoked`` lines), and ``@revoked`` is honoured."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.core.runtime import get_runtime
from tests.conftest import ssh_profile

pytestmark = pytest.mark.sandbox


def _ca_line(tmp_path: Path, hosts: str) -> str:
    key = tmp_path / "ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return f"@cert-authority {hosts} {key.with_suffix('.pub').read_text().strip()}\n"


def _profile(sandbox: object, tmp_path: Path, text: str) -> cl.Profile:
    kh = tmp_path / "known_hosts"
    kh.write_text(text)
    return ssh_profile(sandbox, name=f"kh{abs(hash(text)) % 10**6}", known_hosts=str(kh))


def test_marker_lines_beside_the_host_key_are_fine(sandbox: object, tmp_path: Path) -> None:
    known = Path(sandbox.known_hosts).read_text()  # type: ignore[attr-defined]
    profile = _profile(sandbox, tmp_path, _ca_line(tmp_path, "*.example.edu") + known)
    assert get_runtime(profile).transport.run(["true"]).returncode == 0


@pytest.mark.parametrize("client", ["openssh", "paramiko"])
def test_a_host_known_only_through_a_certificate_authority_is_explained(
    sandbox: object, tmp_path: Path, client: str
) -> None:
    """This host presents no certificate, so a CA line cannot vouch for it: refused with
    its fingerprint (paramiko cannot check host certificates at all, and says so)."""
    profile = _profile(sandbox, tmp_path, _ca_line(tmp_path, "*")).replace(ssh_client=client)
    expected = (
        "cannot check host certificates.*ssh-keyscan"
        if client == "paramiko"
        else "is not known \\(ssh-ed25519 SHA256:.*ssh-keyscan.*@cert-authority"
    )
    with pytest.raises(cl.HostKeyError, match=expected):
        get_runtime(profile).transport.run(["true"])


def test_a_revoked_host_key_is_refused_even_when_listed(sandbox: object, tmp_path: Path) -> None:
    known = Path(sandbox.known_hosts).read_text()  # type: ignore[attr-defined]
    revoked = "".join(f"@revoked {line}\n" for line in known.splitlines() if line.strip())
    profile = _profile(sandbox, tmp_path, known + revoked)
    with pytest.raises(cl.HostKeyError, match="marked @revoked"):
        get_runtime(profile).transport.run(["true"])


def test_trust_on_first_use_refuses_a_key_of_a_new_type_for_a_known_host(
    sandbox: object, tmp_path: Path
) -> None:
    """The host is known by an ECDSA key; it offers ed25519 (the sandbox sshd's only
    key). OpenSSH refuses; so does clusterlab, leaving known_hosts as it was: paramiko
    (>= 3.4) raises BadHostKeyException before the trust-on-first-use policy is asked,
    and the policy itself refuses such a key too (known_hosts.refuse_other_type)."""
    import paramiko

    known = Path(sandbox.known_hosts).read_text()  # type: ignore[attr-defined]
    host = known.split()[0]  # "[127.0.0.1]:PORT"
    other = paramiko.ECDSAKey.generate()
    text = f"{host} {other.get_name()} {other.get_base64()}\n"
    kh = tmp_path / "known_hosts"
    kh.write_text(text)
    profile = ssh_profile(sandbox, name="tofutype", known_hosts=str(kh), trust_on_first_use=True)
    with pytest.raises(cl.HostKeyError, match=r"has CHANGED|knows it by a ecdsa"):
        get_runtime(profile).transport.run(["true"])
    assert kh.read_text() == text


def test_trust_on_first_use_still_adds_a_host_it_has_never_seen(
    sandbox: object, tmp_path: Path
) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    profile = ssh_profile(sandbox, name="tofunew", known_hosts=str(kh), trust_on_first_use=True)
    assert get_runtime(profile).transport.run(["true"]).returncode == 0
    assert "ssh-ed25519" in kh.read_text()
