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
