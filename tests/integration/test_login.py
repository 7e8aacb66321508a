"""Site logins against the sandbox's real sshd's (tests/cluster/logins.py): a key plus a
TOTP code from PAM, and certificates only. What a user at a site with a second factor or
an SSH CA sees: one prompt for every process, the server's own prompt text, sentences
that say how to answer, and nothing written anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.common import prompts
from clusterlab.core.runtime import get_runtime
from clusterlab.transports import get_transport, sharedlogin
from tests.cluster import logins
from tests.conftest import ssh_profile

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(240)]
LOGINS = Path(logins.__file__).resolve()


@pytest.fixture
def login_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Logins of this test only (a short path: unix sockets allow ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="cll-"))
    monkeypatch.setenv("CLUSTERLAB_LOGIN_DIR", str(path))
    yield path
    sharedlogin.end_all(path)


@pytest.fixture
def nobody_to_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test process has no panel, notebook or terminal to ask."""
    monkeypatch.setattr(prompts, "_answerers", [])


class Askpass:
    """An askpass command like a user's oathtool wrapper, that also counts its calls (the
    prompts it got, never the answers) and keeps the codes it gave in a file of the test."""

    def __init__(self, tmp: Path, base: str, wrong_first: int = 0) -> None:
        self.asked = tmp / "asked"
        self.given = tmp / "given"
        script = tmp / "otp-code"
        script.write_text(
            "#!/bin/sh\n"
            f'printf "%s\\n" "$1" >> {self.asked}\n'
            f"n=$(wc -l < {self.asked})\n"
            f'if [ "$n" -le {wrong_first} ]; then echo 000000; exit 0; fi\n'
            f"code=$({sys.executable} {LOGINS} code {base})\n"
            f'echo "$code" >> {self.given}\n'
            'echo "$code"\n'
        )
        script.chmod(0o700)
        self.command = str(script)

    def prompts(self) -> list[str]:
        return self.asked.read_text().splitlines() if self.asked.exists() else []

    def codes(self) -> list[str]:
        return self.given.read_text().split() if self.given.exists() else []


def mfa_profile(sandbox: object, name: str = "mfa", **overrides: object) -> cl.Profile:
    return ssh_profile(
        sandbox,
        name=name,
        port=sandbox.mfa_port,  # type: ignore[attr-defined]
        known_hosts=sandbox.login_known_hosts,  # type: ignore[attr-defined]
        **overrides,
    )


def _files_under(*dirs: str | Path) -> Iterator[Path]:
    for d in dirs:
        for root, _, names in os.walk(d):
            for name in names:
                if (Path(root) / name).is_file() and not (Path(root) / name).is_symlink():
                    yield Path(root) / name


@pytest.mark.parametrize("client", ["openssh", "paramiko"])
def test_a_one_time_code_from_askpass_logs_in_and_is_never_stored(
    sandbox: object, tmp_path: Path, login_dir: Path, client: str
) -> None:
    askpass = Askpass(tmp_path, sandbox.base_dir)  # type: ignore[attr-defined]
    profile = mfa_profile(sandbox, askpass=askpass.command, ssh_client=client)
    cl.profiles.save(profile)
    assert cl.cluster("mfa")(lambda x: x + 1)(2) == 3
    assert len(askpass.prompts()) == 1
    assert "One-time password" in askpass.prompts()[0]  # the server's own prompt text
    report = cl.profiles.check("mfa")
    assert report.ok, str(report)
    auth = next(line for line in report.lines if line.name == "auth")
    if client == "openssh":
        assert "key + one-time code" in auth.detail and "shared login" in auth.detail
        assert len(askpass.prompts()) == 1  # the check rode the same login
    codes = askpass.codes()
    assert codes
    for path in _files_under(login_dir, os.environ["CLUSTERLAB_CONFIG_DIR"],
                             os.environ["CLUSTERLAB_DATA_DIR"]):  # fmt: skip
        text = path.read_bytes()
        assert not any(code.encode() in text for code in codes), f"a code is in {path}"


@pytest.mark.parametrize("client", ["openssh", "paramiko"])
def test_with_nobody_to_ask_the_call_fails_with_the_servers_prompt(
    sandbox: object, login_dir: Path, nobody_to_ask: None, client: str
) -> None:
    profile = mfa_profile(sandbox, name="nocode", ssh_client=client)
    with pytest.raises(cl.TransportError) as err:
        get_transport(profile).run(["true"])
    text = str(err.value)
    assert "One-time password" in text and "askpass" in text and "terminal" in text
    with pytest.raises(cl.TransportError, match="One-time password.*askpass"):
        cl.cluster(profile)(abs)(-1)  # a script's blocking call: the same sentence, no hang


def test_a_wrong_code_is_refused_then_the_next_prompt_is_answered(
    sandbox: object, tmp_path: Path, login_dir: Path
) -> None:
    askpass = Askpass(tmp_path, sandbox.base_dir, wrong_first=1)  # type: ignore[attr-defined]
    profile = mfa_profile(sandbox, askpass=askpass.command)
    assert get_transport(profile).run(["echo", "in"]).out == "in\n"
    assert len(askpass.prompts()) == 2  # refused, asked again, accepted


def test_two_processes_and_the_cli_share_one_login(
    sandbox: object, tmp_path: Path, login_dir: Path
) -> None:
    askpass = Askpass(tmp_path, sandbox.base_dir)  # type: ignore[attr-defined]
    cl.profiles.save(mfa_profile(sandbox, askpass=askpass.command))
    code = "import clusterlab as cl; print(cl.cluster('mfa')(abs)(-5))"
    kernels = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [k.communicate(timeout=180)[0] for k in kernels]
    assert [o.strip() for o in outs] == ["5", "5"]
    cli = subprocess.run(
        [sys.executable, "-m", "clusterlab.ui.cli", "profile", "check", "mfa"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert "shared login" in cli.stdout
    assert len(askpass.prompts()) == 1  # one code for two notebooks and the CLI


def test_persist_zero_logs_each_process_in_alone(
    sandbox: object, tmp_path: Path, login_dir: Path
) -> None:
    askpass = Askpass(tmp_path, sandbox.base_dir)  # type: ignore[attr-defined]
    cl.profiles.save(mfa_profile(sandbox, askpass=askpass.command, persist=0))
    code = "import clusterlab as cl; print(cl.cluster('mfa')(abs)(-5))"
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.stdout.strip() == "5", done.stderr
    assert len(askpass.prompts()) == 2


def test_the_shared_login_killed_mid_map_loses_no_result(
    sandbox: object, tmp_path: Path, login_dir: Path
) -> None:
    askpass = Askpass(tmp_path, sandbox.base_dir)  # type: ignore[attr-defined]
    profile = mfa_profile(sandbox, askpass=askpass.command)
    cl.profiles.save(profile)

    def slow(x: int) -> int:
        import time

        time.sleep(3)
        return x * x

    arr = cl.cluster("mfa")(slow).map(range(6))
    deadline = time.time() + 60
    while any(j.state == cl.JobState.SUBMITTING for j in arr) and time.time() < deadline:
        time.sleep(0.2)
    pid = get_runtime(profile).transport.login.state().pid  # type: ignore[attr-defined]
    assert pid
    os.kill(pid, 9)  # the shared login dies under the running map
    assert arr.results(timeout=180) == [x * x for x in range(6)]
    assert len(askpass.prompts()) == 2  # one new prompt brought it back


def test_logout_ends_the_login_for_every_process(
    sandbox: object, tmp_path: Path, login_dir: Path
) -> None:
    askpass = Askpass(tmp_path, sandbox.base_dir)  # type: ignore[attr-defined]
    cl.profiles.save(mfa_profile(sandbox, askpass=askpass.command))
    assert cl.profiles.login("mfa")["state"] == "logged in"
    out = subprocess.run(
        [sys.executable, "-m", "clusterlab.ui.cli", "logout", "mfa"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 0 and "logged out of mfa" in out.stdout
    assert cl.profiles.login_state("mfa")["state"] == "needs a login"
    assert cl.cluster("mfa")(abs)(-2) == 2
    assert len(askpass.prompts()) == 2


def _cert_profile(sandbox: object, client: str, **overrides: object) -> cl.Profile:
    fields: dict[str, object] = {
        "name": f"cert{client}",
        "port": sandbox.cert_port,  # type: ignore[attr-defined]
        "key_file": sandbox.cert_key,  # type: ignore[attr-defined]
        "known_hosts": sandbox.login_known_hosts,  # type: ignore[attr-defined]
        "ssh_client": client,
    }
    return ssh_profile(sandbox, **{**fields, **overrides})  # type: ignore[arg-type]


def test_a_user_certificate_logs_in_with_a_key_not_in_authorized_keys(
    sandbox: object, login_dir: Path
) -> None:
    """The cert sshd has no authorized_keys at all, and is known only through its CA."""
    profile = _cert_profile(sandbox, "openssh")
    cl.profiles.save(profile)
    assert cl.cluster(profile)(lambda: "signed")() == "signed"
    report = cl.profiles.check(profile)
    auth = next(line for line in report.lines if line.name == "auth")
    assert "certificate from CA SHA256:" in auth.detail and "valid until" in auth.detail
    assert auth.level == "ok"


def test_paramiko_offers_the_certificate_beside_the_key(
    sandbox: object, tmp_path: Path, login_dir: Path
) -> None:
    """paramiko cannot check host certificates: the host is known by its own key here."""
    host_key = Path(sandbox.base_dir) / "login" / "cert_host_key.pub"  # type: ignore[attr-defined]
    known = tmp_path / "known_hosts"
    kind, b64 = host_key.read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{sandbox.cert_port} {kind} {b64}\n")  # type: ignore[attr-defined]
    profile = _cert_profile(sandbox, "paramiko", known_hosts=str(known))
    assert get_transport(profile).run(["echo", "cert"]).out == "cert\n"


def test_a_certificate_ending_within_the_hour_is_a_warning(
    sandbox: object, tmp_path: Path, login_dir: Path
) -> None:
    key = tmp_path / "short"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    logins.sign_user_key(
        Path(sandbox.base_dir),  # type: ignore[attr-defined]
        key.with_suffix(".pub"),
        sandbox.ssh_user,  # type: ignore[attr-defined]
        validity="-5m:+30m",
    )
    report = cl.profiles.check(_cert_profile(sandbox, "openssh", key_file=str(key)))
    auth = next(line for line in report.lines if line.name == "auth")
    assert auth.level == "warning" and "ends within the hour" in auth.detail


def test_a_revoked_host_key_signed_by_the_ca_is_refused(
    sandbox: object, tmp_path: Path, login_dir: Path
) -> None:
    host_key = Path(sandbox.base_dir) / "login" / "cert_host_key.pub"  # type: ignore[attr-defined]
    known = tmp_path / "known_hosts"
    known.write_text(
        Path(sandbox.login_known_hosts).read_text()  # type: ignore[attr-defined]
        + f"@revoked * {' '.join(host_key.read_text().split()[:2])}\n"
    )
    with pytest.raises(cl.HostKeyError, match="revoked"):
        get_transport(_cert_profile(sandbox, "openssh", known_hosts=str(known))).run(["true"])


@pytest.mark.parametrize("client", ["openssh", "paramiko"])
@pytest.mark.parametrize("descriptors", ["few", "past 1024"])
def test_proxycommand_from_ssh_config(
    sandbox: object, tmp_path: Path, login_dir: Path, client: str, descriptors: str
) -> None:
    """ "past 1024": a process that holds many descriptors (a long notebook session, or this
    test suite) got numbers select() refuses, and paramiko's own ProxyCommand select()s on
    its pipe: the login failed with "filedescriptor out of range in select()"."""
    held: list[int] = []
    if descriptors != "few":
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
    try:
        _login_through_proxycommand(sandbox, tmp_path, client)
    finally:
        for fd in held:
            os.close(fd)


def _login_through_proxycommand(sandbox: object, tmp_path: Path, client: str) -> None:
    s = sandbox
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        "Host viaproxy\n  HostName 127.0.0.1\n"
        f"  Port {s.ssh_port}\n  User {s.ssh_user}\n  IdentityFile {s.ssh_key}\n"  # type: ignore[attr-defined]
        f"  ProxyCommand ssh -F none -i {s.ssh_key} -o UserKnownHostsFile={s.known_hosts} "  # type: ignore[attr-defined]
        f"-o StrictHostKeyChecking=yes -o BatchMode=yes -p {s.ssh_port} "  # type: ignore[attr-defined]
        f"{s.ssh_user}@127.0.0.1 -W %h:%p\n"  # type: ignore[attr-defined]
    )
    profile = cl.Profile(
        name="viaproxy",
        scheduler="slurm",
        host="viaproxy",
        ssh_config=str(cfg),
        known_hosts=s.known_hosts,  # type: ignore[attr-defined]
        python=s.remote_python,  # type: ignore[attr-defined]
        ssh_client=client,
    )
    assert get_transport(profile).run(["echo", "proxied"]).out == "proxied\n"


def test_a_person_answers_through_the_registered_front_end(
    sandbox: object, login_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the panel, the running cell and the CLI do: answer what the server asked, from
    another thread than the one that logs in (the askpass helper reaches this process
    through its prompt socket)."""
    monkeypatch.setattr(prompts, "_answerers", [])
    seen: list[prompts.PromptRequest] = []

    def person(request: prompts.PromptRequest, timeout: float) -> str:
        seen.append(request)
        assert threading.current_thread().name.startswith("clusterlab-prompt")
        return logins.next_code(Path(sandbox.base_dir))  # type: ignore[attr-defined]

    prompts.register("test person", person)
    profile = mfa_profile(sandbox, name="person")
    assert get_transport(profile).run(["echo", "ok"]).out == "ok\n"
    assert len(seen) == 1
    assert "One-time password" in seen[0].prompt and "person" in seen[0].profile
    assert str(sandbox.mfa_port) in seen[0].host  # type: ignore[attr-defined]


def test_a_login_past_its_persist_time_asks_again_once(
    sandbox: object, tmp_path: Path, login_dir: Path
) -> None:
    """persist bounds the shared login's life: past it, the next use logs in again."""
    askpass = Askpass(tmp_path, sandbox.base_dir)  # type: ignore[attr-defined]
    profile = mfa_profile(sandbox, askpass=askpass.command, persist=3)
    transport = get_transport(profile)
    assert transport.run(["echo", "a"]).out == "a\n"
    state = cl.profiles.login_state(profile)
    assert state["logged_in"] and state["left"] == "0 min"
    time.sleep(4)
    assert cl.profiles.login_state(profile)["state"] in ("expired", "needs a login")
    assert transport.run(["echo", "b"]).out == "b\n"
    assert transport.run(["echo", "c"]).out == "c\n"
    assert len(askpass.prompts()) == 2


def test_a_command_waits_for_a_free_session_of_the_shared_login(
    sandbox: object, login_dir: Path
) -> None:
    """Every notebook of the user shares one connection, and sshd allows 10 sessions on it
    (MaxSessions): with all of them held, a command waits for one instead of failing."""
    transport = get_transport(ssh_profile(sandbox, name="sessions", persist=60))
    transport.run(["true"])
    held = [transport.open_stream(["sh", "-c", "echo up; sleep 4"]) for _ in range(10)]
    try:
        assert all(next(iter(stream.lines())) == b"up" for stream in held)  # all 10 held
        assert transport.run(["echo", "got one"]).out == "got one\n"
    finally:
        for stream in held:
            stream.close()


def test_the_cli_asks_on_the_terminal(sandbox: object, login_dir: Path) -> None:
    """`clusterlab profile check` in a terminal: the server's prompt, typed unseen."""
    import pexpect  # IPython's dependency on POSIX: drives a real terminal

    cl.profiles.save(mfa_profile(sandbox, name="tty"))
    child = pexpect.spawn(
        sys.executable, ["-m", "clusterlab.ui.cli", "profile", "check", "tty"],
        env=dict(os.environ), timeout=120, encoding="utf-8",
    )  # fmt: skip
    user = sandbox.ssh_user  # type: ignore[attr-defined]
    child.expect(rf"\[tty on {user}@127\.0\.0\.1:\d+\] .*One-time password")
    code = logins.next_code(Path(sandbox.base_dir))  # type: ignore[attr-defined]
    child.sendline(code)
    child.expect("ready")
    rest = child.read()
    child.close()
    assert child.exitstatus == 0
    assert code not in (child.before or "") + rest  # not echoed
