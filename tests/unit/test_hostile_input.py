"""Hostile input: nothing a user types, a job prints or a job writes makes clusterlab run
code it did not intend.

Every value a user can type (each profile field, each resource, job names, paths, the
``%%cluster`` line, comm messages from the lab panel) is fuzzed with quotes, ``$()``,
backticks, ``;``, newlines, NUL, unicode line separators, 10 kB strings and a leading
``-``. Each value is either refused with an error that names its field and says what to
type, or carried as data. "As data" is proven, not assumed: the SLURM and local job scripts
are rendered from the value the way a submission renders them and run with ``sh`` in a
scratch directory (``python`` is ``true`` or a recorder of its argv), and nothing planted
runs (no ``pwned`` file), no ``#SBATCH`` directive appears and no line is added.

The profile's ``setup`` lines are the user's own shell code by design: they run as given,
and no other field can add to them or break out of its place in the script.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import clusterlab as cl
from clusterlab.backends.base import ArraySpec, Backend, JobSpec
from clusterlab.backends.local import LocalBackend
from clusterlab.backends.slurm import SlurmBackend
from clusterlab.common.errors import ProfileError, ResourceError
from clusterlab.config.resources import Resources, parse_resources
from clusterlab.core.environment.remote import RemoteEnvironment
from clusterlab.core.runtime import Runtime
from clusterlab.core.submission.submit import _spec
from clusterlab.transports import LocalTransport
from clusterlab.ui import magic
from clusterlab.ui.comm import CommHandler

JOB_ID = "20261201-120000-abcdef"

# Each plant, if it ever reached a shell as code, creates a file named exactly "pwned".
PLANTS = [
    "$(touch pwned)",
    "`touch pwned`",
    ";touch pwned;",
    "&& touch pwned",
    "|| touch pwned",
    "| touch pwned",
    "\ntouch pwned\n",
    "\r\ntouch pwned\r\n",
    "'; touch pwned; '",
    '"; touch pwned; "',
    "\n#SBATCH --wrap='touch pwned'\n",
    "${IFS}touch${IFS}pwned",
    "\u2028touch pwned",
    "\x85touch pwned",
    "\x0btouch pwned",
    "\0touch pwned",
    "-rf",
    "--uid=0",
    "é数据\U0001f600",
    "x" * 10_000,
    "-" * 10_000,
    "\\",
    "'",
    '"',
    "#",
    "~",
    " ",
    "",
]

# Hypothesis defaults for every property here: quick, and no per-example deadline (each
# example runs two small shell scripts).
FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def hostile() -> st.SearchStrategy[str]:
    """A plant alone, a plant inside random text, or random text."""
    return st.one_of(
        st.sampled_from(PLANTS),
        st.builds(
            lambda a, p, b: a + p + b,
            st.text(max_size=10),
            st.sampled_from(PLANTS),
            st.text(max_size=10),
        ),
        st.text(max_size=40),
    )


def hostile_path() -> st.SearchStrategy[str]:
    """Hostile text, also behind '/' and '~/' so that some of it passes validation."""
    return st.one_of(
        hostile(),
        st.builds(lambda h: "/" + h, hostile()),
        st.builds(lambda h: "~/" + h, hostile()),
    )


BACKENDS: list[Backend] = [
    SlurmBackend(cl.Profile(name="s", scheduler="slurm"), LocalTransport()),
    LocalBackend(cl.Profile(name="l", scheduler="local"), LocalTransport()),
]


@pytest.fixture(autouse=True)
def scratch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """'~' means a scratch dir, so '~/...' values never touch the real home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def scratch(tmp_path: Path) -> Path:
    """A fresh directory per hypothesis example."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


def planted(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.name == "pwned"]


def profile_or_error(field: str, value: Any, **base: Any) -> cl.Profile | ProfileError:
    """The profile with ``field=value`` (on top of a harmless base), or the refusal."""
    # a program that ignores runner.py (a path: the script refuses builtins such as true)
    fields: dict[str, Any] = {"name": "t", "scheduler": "slurm", "python": "/bin/true", **base}
    fields[field] = value
    try:
        return cl.Profile(**fields)
    except ProfileError as exc:
        return exc


def valid(**fields: Any) -> cl.Profile:
    """A profile that must be accepted (the harmless base plus ``fields``)."""
    p = profile_or_error("name", "t", **fields)
    assert isinstance(p, cl.Profile), p
    return p


def assert_says_what_to_type(exc: ProfileError, field: str) -> None:
    """Refused for this field, with a sentence that shows what to type instead."""
    assert exc.field == field, f"blamed {exc.field!r} for a bad {field!r}: {exc}"
    message = exc.errors[field]
    assert not any(
        raw in message for raw in ("object is not", "invalid literal", "has no attribute")
    ), f"a Python error leaked into the message: {message}"
    hints = ("e.g.", "such as", "usually", "choose one of", "true or false", "leave host empty")
    assert any(h in message for h in hints), f"{field}: no example of what to type: {message}"


def spec_for(profile: cl.Profile, name: str = "job", array: bool = False) -> JobSpec:
    """The JobSpec a submission builds for this profile, through the same code
    (``Runtime.jobs_root``, the environment's ``python_argv``, ``submit._spec``)."""
    transport = LocalTransport()
    runtime: Any = SimpleNamespace(
        profile=profile,
        transport=transport,
        default_resources=parse_resources(profile.resources),
        environment=RemoteEnvironment(profile, transport),
    )
    job_dir = f"{Runtime.jobs_root(runtime)}/{JOB_ID}"
    spec = _spec(runtime, JOB_ID, name, job_dir, Resources(), [])
    spec.array = ArraySpec(2) if array else None
    return spec


def make_job_dir(spec: JobSpec) -> bool:
    """Create the job dir if the file system can hold its name (too long, NUL: no).
    Never a relative one: that would land wherever pytest happens to run."""
    if not os.path.isabs(spec.job_dir):
        return False
    try:
        os.makedirs(spec.job_dir, exist_ok=True)
    except (OSError, ValueError):
        return False
    return True


def run_scripts(
    spec: JobSpec, where: Path, search_path: str = "/usr/bin:/bin"
) -> dict[str, tuple[str, int]]:
    """Render the SLURM and local scripts and run each with ``sh`` from ``where``;
    nothing planted may run. Returns ``kind -> (script, exit code)``."""
    out = {}
    for backend in BACKENDS:
        script = backend.job_script(spec)
        path = where / f"{backend.kind}.sh"
        path.write_text(script, encoding="utf-8")
        res = subprocess.run(
            ["/bin/sh", str(path)],
            cwd=where,
            capture_output=True,
            timeout=30,
            env={"PATH": search_path, "HOME": os.environ["HOME"]},
            check=False,
        )
        assert not planted(where), f"{backend.kind}: a planted command ran\n{script}"
        assert not planted(Path(os.environ["HOME"]))
        out[backend.kind] = (script, res.returncode)
    return out


def assert_same_shape(script: str, clean: str, options: bool = True) -> None:
    """No added line, no added ``#SBATCH`` directive (and, with ``options``, the same
    option in each directive)."""
    assert len(script.splitlines()) == len(clean.splitlines())
    assert script.count("\n") == clean.count("\n")
    directives = [ln.split("=")[0] for ln in script.split("\n") if ln.startswith("#SBATCH")]
    expected = [ln.split("=")[0] for ln in clean.split("\n") if ln.startswith("#SBATCH")]
    assert len(directives) == len(expected)
    if options:
        assert directives == expected


# -- paths: remote_dir, key_file, known_hosts, ssh_config ---------------------------------


@pytest.mark.parametrize("value", ["jobs", "./jobs", "scratch/me", "$HOME/jobs", "~me/jobs", " "])
def test_a_relative_remote_dir_is_refused(value: str) -> None:
    """A relative job directory would depend on where a command happens to start (the
    login directory, the kernel's working directory): refused, with the forms that work."""
    exc = profile_or_error("remote_dir", value)
    assert isinstance(exc, ProfileError), f"remote_dir={value!r} was accepted"
    assert_says_what_to_type(exc, "remote_dir")
    assert "~/" in exc.errors["remote_dir"] and "absolute" in exc.errors["remote_dir"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("remote_dir", "-rf"),
        ("remote_dir", "--help"),
        ("key_file", "-oProxyCommand=touch pwned"),
        ("key_file", "-i"),
        ("known_hosts", "-"),
        ("ssh_config", "-F/tmp/x"),
        ("python", "-c"),
        ("python", "-m http.server"),
    ],
)
def test_a_leading_dash_is_refused(field: str, value: str) -> None:
    """A value starting with '-' would be read as an option by whatever receives it."""
    exc = profile_or_error(field, value, host="h")
    assert isinstance(exc, ProfileError), f"{field}={value!r} was accepted"
    assert_says_what_to_type(exc, field)
    assert "'-'" in exc.errors[field]


@pytest.mark.parametrize("value", ["~/.clusterlab", "/scratch/me/cl", "~", "/"])
def test_remote_dir_forms_that_work(value: str) -> None:
    p = profile_or_error("remote_dir", value)
    assert isinstance(p, cl.Profile) and p.remote_dir == value


@pytest.mark.parametrize("field", ["key_file", "known_hosts", "ssh_config", "remote_dir"])
@FAST
@given(value=hostile_path())
def test_any_path_is_refused_or_never_reaches_a_shell(
    field: str, value: str, tmp_path: Path
) -> None:
    """The SSH paths are read by paramiko in this process, never by a shell: accepted
    values leave the job script unchanged. remote_dir is in the script, quoted: the job
    starts in exactly that directory (exit 0) or stops at ``cd`` (exit 97)."""
    where = scratch(tmp_path)
    if field == "remote_dir" and value.startswith("/"):
        value = str(where / "rd") + value  # an absolute path under the scratch dir
    base = {"remote_dir": str(where / "rd"), "host": "h"}
    p = profile_or_error(field, value, **base)
    if isinstance(p, ProfileError):
        assert_says_what_to_type(p, field)
        return
    assert getattr(p, field) == value
    spec = spec_for(p)
    existed = os.path.isdir(spec.job_dir)
    clean = spec_for(valid(**base))
    for backend, (script, code) in zip(BACKENDS, run_scripts(spec, where).values(), strict=True):
        if field != "remote_dir":
            assert script == backend.job_script(clean)
        else:
            assert f"JOB_DIR={shlex.quote(spec.job_dir)}\n" in script
            # no such directory: stopped at cd before anything else ran
            assert code == (0 if existed else 97)
    if field == "remote_dir" and make_job_dir(spec):
        for _, code in run_scripts(spec, where).values():
            assert code == 0  # cd reached exactly that directory; `true runner.py` ran


# -- python ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["'/opt/my python/bin/python3", '"python3', "python3 -c 'print(1)", "python3 \\"],
)
def test_python_with_an_unbalanced_quote_is_refused(value: str) -> None:
    """It could not be split into a command at submission (a ValueError from shlex there)."""
    exc = profile_or_error("python", value)
    assert isinstance(exc, ProfileError), f"python={value!r} was accepted"
    assert_says_what_to_type(exc, "python")
    assert "quote" in exc.errors["python"]


def test_blank_python_means_the_default() -> None:
    """Only spaces used to pass validation and fail at submission with an IndexError."""
    p = profile_or_error("python", "   ")
    assert isinstance(p, cl.Profile) and p.python == ""
    assert spec_for(p).python  # an interpreter is chosen


@pytest.mark.parametrize("value", ["venv/bin/python", "./python3", "~me/bin/python"])
def test_python_at_a_relative_path_is_refused(value: str) -> None:
    """A relative path would be looked up from the job directory, where no Python is."""
    exc = profile_or_error("python", value)
    assert isinstance(exc, ProfileError), f"python={value!r} was accepted"
    assert_says_what_to_type(exc, "python")


@pytest.mark.parametrize(
    "value", ["python3", "python3 -X dev", "~/venv/bin/python", "'/opt/my python/bin/python3' -u"]
)
def test_python_forms_that_work(value: str) -> None:
    p = profile_or_error("python", value)
    assert isinstance(p, cl.Profile) and p.python == value


@FAST
@given(value=hostile())
def test_any_python_is_refused_or_split_into_argv(value: str, tmp_path: Path) -> None:
    """``python`` is a command by design (the interpreter and its options), so "as data"
    means: split like a shell splits words, and nothing else. The scripts run with an
    empty PATH, so a command name (even 'touch') resolves to nothing and the job stops
    at the interpreter check (127) having run nothing."""
    where = scratch(tmp_path)
    p = profile_or_error("python", value, remote_dir=str(where / "rd"))
    if isinstance(p, ProfileError):
        assert_says_what_to_type(p, "python")
        return
    spec = spec_for(p)
    if p.python:
        assert p.python == value.strip(" \t")
        argv = shlex.split(p.python)
        assert spec.python[1:] == argv[1:]
    assert make_job_dir(spec)
    empty = where / "empty-path"
    empty.mkdir()
    for script, code in run_scripts(spec, where, search_path=str(empty)).values():
        assert f"\n{shlex.join(spec.python)} runner.py" in script
        if p.python:  # (empty means this kernel's Python: it finds no runner.py here)
            assert code in (126, 127)  # not found, or found but not a program ('~')


_DIR_NAME = st.one_of(
    st.sampled_from([p.replace("/", "") for p in PLANTS if p and "\0" not in p]),
    st.text(min_size=1, max_size=60),
).map(lambda s: s.replace("/", "_").replace("\0", "_")[:200] or "_")


@FAST
@given(dirname=_DIR_NAME, args=st.lists(hostile(), max_size=3))
def test_python_argv_reaches_the_interpreter_as_given(
    dirname: str, args: list[str], tmp_path: Path
) -> None:
    """An interpreter in a directory with a hostile name, with hostile arguments: the job
    script execs exactly that program with exactly those arguments (a recorder stands in
    for Python and writes down its argv)."""
    assume(dirname not in (".", "..") and dirname != "pwned")
    assume(not any("\n" in a or "\r" in a or "\0" in a for a in args))
    where = scratch(tmp_path)
    rec = where / dirname / "rec"
    rec.parent.mkdir()
    rec.write_text('#!/bin/sh\nprintf "%s\\0" "$@" > "$0.argv"\n')
    rec.chmod(stat.S_IRWXU)
    value = shlex.join([str(rec), *args])
    p = profile_or_error("python", value, remote_dir=str(where / "rd"))
    if any(ch in dirname for ch in "\n\r"):
        assert isinstance(p, ProfileError)  # a path with a line break is refused
        return
    assert isinstance(p, cl.Profile), p
    spec = spec_for(p)
    assert make_job_dir(spec)
    for _, code in run_scripts(spec, where).values():
        assert code == 0
        recorded = Path(f"{rec}.argv").read_bytes().split(b"\0")[:-1]
        assert [a.decode() for a in recorded] == [*args, "runner.py", spec.job_dir]


# -- resources: cores, memory, time, gpus, nodes, tasks, partition, queue, account, qos, ...

# A harmless value of each resource: the shape a hostile value must not change.
BENIGN: dict[str, Any] = {
    "cores": 1,
    "memory": "1MB",
    "time": "1",
    "gpus": 1,
    "nodes": 1,
    "tasks": 1,
    "tasks_per_node": 1,
    "launcher": "auto",
    "partition": "p",
    "queue": "q",
    "account": "a",
    "qos": "q",
    "constraint": "c",
}


def resource_or_error(key: str, value: Any) -> Resources | ResourceError:
    try:
        return parse_resources({key: value})
    except ResourceError as exc:
        return exc


def assert_resource_hint(exc: Exception, key: str) -> None:
    message = str(exc)
    assert f"{key}=" in message or repr(key) in message, f"{key} not named: {message}"
    hints = ("e.g.", "such as", "use ", "ask for")
    assert any(h in message for h in hints), f"{key}: no example of what to type: {message}"


@pytest.mark.parametrize(
    "value",
    [True, 1.5, 7, {"--qos": "high"}, [["--qos=high"]], [None], b"--qos=high"],
    ids=repr,
)
def test_extra_that_is_not_text_options_is_refused_with_a_sentence(value: Any) -> None:
    """It used to raise TypeError ('bool' object is not iterable), which a Profile did not
    turn into a field error; a dict silently lost its values."""
    exc = resource_or_error("extra", value)
    assert isinstance(exc, ResourceError), f"extra={value!r} gave {exc!r}"
    assert_resource_hint(exc, "extra")
    p = profile_or_error("resources", {"extra": value})
    assert isinstance(p, ProfileError) and p.field == "resources"


@pytest.mark.parametrize(
    "item",
    [
        "--qos=high\u2028--uid=0",
        "--qos=high\u2029x",
        "--qos=high\x85x",
        "--qos=high\x0bx",
        "--qos=high\x0cx",
        "--qos=high\x1cx",
        "--qos=\thigh",
        "--qos=high\x1b[2J",
        "-",
        "--",
        "- x",
        "qos=high",
        " --qos=high",
    ],
    ids=repr,
)
def test_extra_is_one_printable_line_that_starts_with_an_option(item: str) -> None:
    """Python (and any tool that splits lines like it) sees a line break in U+2028, NEL,
    VT, FF and the file separators; a lone '-' or '--' is no option ('--' ends options)."""
    exc = resource_or_error("extra", [item])
    assert isinstance(exc, ResourceError), f"extra=[{item!r}] was accepted"
    assert_resource_hint(exc, "extra")


@pytest.mark.parametrize("key", ["partition", "queue", "account"])
@pytest.mark.parametrize("value", ["-rf", "--uid=0", "-", True, False], ids=repr)
def test_names_that_look_like_options_or_booleans_are_refused(key: str, value: Any) -> None:
    exc = resource_or_error(key, value)
    assert isinstance(exc, ResourceError), f"{key}={value!r} was accepted"
    assert_resource_hint(exc, key)


def test_unknown_resources_of_any_type_are_listed() -> None:
    """Keys of mixed types used to raise TypeError while sorting them for the message."""
    exc = resource_or_error(1, 2)  # type: ignore[arg-type]
    assert isinstance(exc, ResourceError)
    try:
        parse_resources({1: 2, "colour": "red"})  # type: ignore[dict-item]
    except ResourceError as e:
        assert "'colour'" in str(e) and "valid resources are" in str(e)
    else:
        raise AssertionError("unknown keys were accepted")


def _value_for(key: str) -> st.SearchStrategy[Any]:
    anything = st.one_of(
        hostile(),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=True),
        st.booleans(),
        st.none(),
    )
    if key == "extra":
        return st.one_of(
            anything,
            st.lists(hostile(), max_size=3),
            st.lists(st.builds(lambda h: "--" + h, hostile()), min_size=1, max_size=3),
        )
    return anything


@pytest.mark.parametrize("key", [*BENIGN, "extra"])
@FAST
@given(data=st.data())
def test_any_resource_is_refused_or_becomes_exactly_its_directive(
    key: str, data: st.DataObject, tmp_path: Path
) -> None:
    """Through a profile (the same parser serves the decorator, the Executor and the
    magic): refused naming the resource, or written as the directives a harmless value
    gives, and the scripts run nothing."""
    value = data.draw(_value_for(key))
    where = scratch(tmp_path)
    base = {"remote_dir": str(where / "rd")}
    p = profile_or_error("resources", {key: value}, **base)
    if isinstance(p, ProfileError):
        assert p.field == "resources"
        assert_resource_hint(p.errors["resources"], key)  # type: ignore[arg-type]
        with pytest.raises(ResourceError):
            cl.cluster("local", **{key: value})
        return
    parsed = parse_resources(p.resources)
    spec = spec_for(p)
    assert make_job_dir(spec)
    attr = {"memory": "memory_mb", "time": "time_s", "queue": "partition"}.get(key, key)
    benign: Any = ["--x"] * len(parsed.extra) if key == "extra" else BENIGN[key]
    if key in ("nodes", "tasks", "tasks_per_node"):  # several tasks add the runner's lines
        benign = getattr(parsed, key)  # a whole number that parsed is harmless as it is
    requested = bool(getattr(parsed, attr))  # None, gpus=0, extra=[]: no directive
    clean = spec_for(valid(resources={key: benign} if requested else {}, **base))
    for backend, (script, code) in zip(BACKENDS, run_scripts(spec, where).values(), strict=True):
        assert code == 0
        assert_same_shape(script, backend.job_script(clean), options=key != "extra")
    directives = SlurmBackend.directives(BACKENDS[0], spec)  # type: ignore[arg-type]
    for item in parsed.extra:
        assert f"#SBATCH {item}" in directives
    for name in (parsed.partition, parsed.account):
        if name:
            assert name.isprintable() and not name.startswith("-") and " " not in name


def test_an_extra_option_stays_on_its_own_directive_line(tmp_path: Path) -> None:
    """An extra item is the user's own scheduler option, written as given (sbatch reads
    every option on an ``#SBATCH`` line): shell syntax in it is inert, since the shell
    reads the line as a comment, and it cannot start a line of its own."""
    where = scratch(tmp_path)
    item = "--comment='$(touch pwned)' `touch pwned` ; touch pwned"
    p = valid(resources={"extra": [item]}, remote_dir=str(where / "rd"))
    spec = spec_for(p)
    assert make_job_dir(spec)
    for script, code in run_scripts(spec, where).values():
        assert code == 0
        if "#SBATCH" in script:
            assert f"\n#SBATCH {item}\n" in script


# -- every other profile field: name, scheduler, host, user, port, trust, setup, ... ------

WRONG_TYPES: list[Any] = [True, 1.5, float("inf"), float("nan"), [1], ["a"], {"a": 1}]
WRONG_TYPES += [b"bytes", object()]
TEXT_FIELDS = ["name", "host", "user", "key_file", "known_hosts", "ssh_config"]
TEXT_FIELDS += ["remote_dir", "python"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (field, value)
        for field in [*TEXT_FIELDS, "setup", "port", "max_concurrent"]
        for value in WRONG_TYPES
        if not (field == "setup" and value == ["a"])  # the one right type among them
    ],
    ids=repr,
)
def test_a_value_of_the_wrong_type_is_a_field_error(field: str, value: Any) -> None:
    """Text fields took anything through str() (key_file=['a'] became "['a']"), setup=5
    and port=inf raised TypeError/OverflowError out of Profile() instead of naming the
    field, port=1.5 quietly became 1."""
    exc = profile_or_error(field, value, host="h" if field != "host" else None)
    assert isinstance(exc, ProfileError), f"{field}={value!r} was accepted as {exc!r}"
    assert_says_what_to_type(exc, field)


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_a_number_is_not_text(field: str) -> None:
    exc = profile_or_error(field, 10**30, host="h" if field != "host" else None)
    assert isinstance(exc, ProfileError)
    assert_says_what_to_type(exc, field)


def test_paths_may_be_path_objects() -> None:
    p = valid(key_file=Path("/k"), remote_dir=Path("/r"), python=Path("/usr/bin/python3"))
    assert (p.key_file, p.remote_dir, p.python) == ("/k", "/r", "/usr/bin/python3")


@pytest.mark.parametrize("value", [True, False, "yes", [], b"5", 0.1, float("nan")], ids=repr)
def test_poll_interval_takes_only_a_number_of_seconds(value: Any) -> None:
    exc = profile_or_error("poll_interval", value)
    assert isinstance(exc, ProfileError), f"poll_interval={value!r} was accepted"
    assert_says_what_to_type(exc, "poll_interval")


@pytest.mark.parametrize("field", ["name", "scheduler", "host", "user", "port"])
@FAST
@given(value=hostile())
def test_identity_fields_are_refused_or_never_reach_a_shell(
    field: str, value: str, tmp_path: Path
) -> None:
    """Name, scheduler, host, user and port never appear in a job script; what passes
    their character sets leaves the rendered scripts unchanged (the host and user go to
    paramiko, never to a shell)."""
    where = scratch(tmp_path)
    base = {"remote_dir": str(where / "rd"), "host": "h"}
    p = profile_or_error(field, value, **base)
    if isinstance(p, ProfileError):
        assert_says_what_to_type(p, field)
        return
    assert not any(ch in str(getattr(p, field)) for ch in "\n\r\0;`$'\" ")
    clean = spec_for(valid(**base))
    for backend, (script, _) in zip(
        BACKENDS, run_scripts(spec_for(p), where).values(), strict=True
    ):
        assert script == backend.job_script(clean)


# -- setup: the user's own shell lines, run as given ---------------------------------------


def test_setup_lines_are_shell_code_that_runs_as_given(tmp_path: Path) -> None:
    """By design (and documented in the field's tooltip and docs/security.md): setup lines
    are the user's own commands, so `$()`, `;` and quotes in them do what a shell does."""
    where = scratch(tmp_path)
    setup = ['echo "$(echo sub)" > setup-ran; echo second >> setup-ran', "X='a b'"]
    p = valid(setup=setup, remote_dir=str(where / "rd"))
    spec = spec_for(p)
    assert make_job_dir(spec)
    for _, code in run_scripts(spec, where).values():
        assert code == 0
        assert (Path(spec.job_dir) / "setup-ran").read_text() == "sub\nsecond\n"
    assert "run as written" in cl.Profile.__dataclass_fields__["setup"].metadata["tooltip"]


def test_a_setup_line_is_split_only_at_real_line_breaks(tmp_path: Path) -> None:
    """U+2028, NEL, VT, FF inside a setup line are ordinary characters to sh; they used to
    be split by str.splitlines, cutting a quoted string in two (a syntax error)."""
    where = scratch(tmp_path)
    text = "a\u2028b\x85c\x0bd\x0ce\x1cf"
    p = valid(setup=[f"printf '%s' '{text}' > setup-ran"], remote_dir=str(where / "rd"))
    assert len(p.setup) == 1
    spec = spec_for(p)
    assert make_job_dir(spec)
    for _, code in run_scripts(spec, where).values():
        assert code == 0
        assert (Path(spec.job_dir) / "setup-ran").read_text(encoding="utf-8") == text


def test_setup_given_as_text_is_split_into_lines() -> None:
    assert valid(setup="module load x\r\n\nsource ~/v/bin/activate\r").setup == [
        "module load x",
        "source ~/v/bin/activate",
    ]


def _setup_block(script: str) -> list[str]:
    lines = script.split("\n")
    start = lines.index("# profile setup lines") + 1
    end = next(i for i, ln in enumerate(lines) if ln.startswith("case $(command -v"))
    return lines[start:end]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.fixed_dictionaries(
        {
            field: hostile_path()
            for field in ["name", "host", "user", "key_file", "known_hosts", "ssh_config"]
        }
    ),
    remote=hostile(),
    job_name=hostile(),
    partition=hostile(),
    extra=st.lists(st.builds(lambda h: "--x" + h, hostile()), max_size=2),
    array=st.booleans(),
)
def test_no_other_field_reaches_into_the_setup_lines(
    values: dict[str, str],
    remote: str,
    job_name: str,
    partition: str,
    extra: list[str],
    array: bool,
    tmp_path: Path,
) -> None:
    """Every field hostile at once (each kept when valid, else left at its default): the
    setup block of the script is exactly the setup lines, they run once, and nothing
    planted runs."""
    where = scratch(tmp_path)
    fields: dict[str, Any] = {"remote_dir": str(where / "rd") + "/" + remote}
    for field, value in values.items():
        if isinstance(profile_or_error(field, value), cl.Profile):
            fields[field] = value
    if isinstance(profile_or_error("remote_dir", fields["remote_dir"]), ProfileError):
        fields["remote_dir"] = str(where / "rd")
    resources: dict[str, Any] = {}
    for key, value in (("partition", partition), ("extra", extra)):
        if isinstance(resource_or_error(key, value), Resources):
            resources[key] = value
    setup = ['echo setup >> "$JOB_DIR/../setup.log"']
    p = valid(**fields, resources=resources, setup=setup)
    spec = spec_for(p, name=job_name, array=array)
    made = make_job_dir(spec)
    for script, code in run_scripts(spec, where).values():
        assert _setup_block(script) == setup
        assert code == (0 if made else 97)
    if made:
        assert (Path(spec.job_dir).parent / "setup.log").read_text() == "setup\nsetup\n"


# -- comm messages from the lab panel -------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | hostile(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
PROFILE_FIELDS = list(cl.Profile.__dataclass_fields__)
# Every request type but profiles.check with a valid profile (that one connects).
FUZZED_TYPES = [
    "hello",
    "profiles.list",
    "profiles.get",
    "profiles.validate",
    "profiles.save",
    "profiles.delete",
    "jobs.list",
    "jobs.clear",
    "jobs.unclear",
    "job.cancel",
    "job.logs",
    "job.result",
]
REQUEST_DATA = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(JSON, st.sampled_from(["local", "ghost"])),
            "id": JSON,
            "profile": st.one_of(
                JSON, st.dictionaries(st.sampled_from(PROFILE_FIELDS), JSON, max_size=4)
            ),
            "original": JSON,
            "limit": JSON,
            "state": JSON,
            "stream": JSON,
            "load": JSON,
            "include_cleared": JSON,
        },
    ),
)


class Panel:
    """A handler served through a recording comm, as test_comm.py drives it."""

    def __init__(self) -> None:
        from tests.unit.test_comm import RecordingComm

        self.comm = RecordingComm()
        self.handler = CommHandler(self.comm)

    def send(self, message: Any, envelope: Any = None) -> None:
        """What ipykernel calls; nothing may escape into the kernel."""
        msg = envelope if envelope is not None else {"content": {"data": message}}
        self.comm.callback(msg)  # type: ignore[attr-defined]

    def reply(self, id_: Any, type_: str) -> dict[str, Any]:
        return self.comm.wait_for(lambda m: m.get("id") == id_ and m["type"] == f"{type_}.reply")

    def close(self) -> None:
        self.handler.close()


@pytest.fixture
def panel() -> Any:
    p = Panel()
    yield p
    p.close()


def assert_clear_error(reply: dict[str, Any]) -> None:
    """An error reply in words, not a Python exception's repr."""
    assert reply["ok"] is False
    message = reply["error"]["message"]
    assert isinstance(message, str) and message
    assert not re.match(r"^[A-Za-z_.]*(Error|Exception): ", message), message


@pytest.mark.parametrize(
    "envelope",
    [{"content": None}, {"content": "x"}, {"content": []}, {}, {"content": {"data": None}}],
    ids=repr,
)
def test_a_malformed_comm_envelope_is_answered_not_raised(panel: Panel, envelope: Any) -> None:
    """ipykernel's message with a content that is not an object used to raise
    AttributeError inside the kernel's comm callback."""
    panel.send(None, envelope=envelope)
    error = panel.comm.wait_for(lambda m: m["type"] == "error")
    assert error["id"] is None and error["ok"] is False


@pytest.mark.parametrize(
    ("type_", "data", "expected"),
    [
        ("jobs.list", {"limit": "abc"}, "'limit' must be a whole number"),
        ("jobs.list", {"limit": -1}, "'limit' must be a whole number"),
        ("jobs.list", {"limit": True}, "'limit' must be a whole number"),
        ("jobs.list", {"profile": ["x"]}, "'profile' must be a profile name"),
        ("jobs.list", {"state": [1]}, "'state' must be a state"),
        ("jobs.list", {"state": {"a": 1}}, "'state' must be a state"),
        ("profiles.save", {"profile": {"name": "x"}, "original": ["q"]}, "'original'"),
        ("job.logs", {"id": "nope", "stream": 5}, "'stream' must be 'stdout' or 'stderr'"),
        ("job.cancel", {"id": ["x"]}, "'id' (a job id)"),
        ("profiles.get", {"name": 5}, "'name' (a profile name)"),
        ("profiles.check", {"profile": {"name": "x", "setup": 5}}, "setup"),
        ("hello", 0, "'data' must be an object"),
        ("hello", "", "'data' must be an object"),
        ("hello", [], "'data' must be an object"),
    ],
    ids=repr,
)
def test_wrong_fields_get_an_error_reply_with_the_same_id(
    panel: Panel, type_: str, data: Any, expected: str
) -> None:
    panel.send({"v": 1, "type": type_, "id": "same-id", "data": data})
    reply = panel.reply("same-id", type_)
    assert_clear_error(reply)
    assert expected in reply["error"]["message"]


def test_a_rename_with_a_bad_original_saves_nothing(panel: Panel) -> None:
    """It used to save the new profile, then fail deleting "['q']": half a rename."""
    data = {"profile": {"name": "x"}, "original": ["q"]}
    panel.send({"v": 1, "type": "profiles.save", "id": "r", "data": data})
    assert_clear_error(panel.reply("r", "profiles.save"))
    assert cl.profiles.list() == ["local"]


def test_a_rename_from_a_profile_that_is_gone_still_saves(panel: Panel) -> None:
    """Another kernel may have deleted the original meanwhile: the save is the request."""
    data = {"profile": {"name": "new"}, "original": "gone"}
    panel.send({"v": 1, "type": "profiles.save", "id": "r", "data": data})
    assert panel.reply("r", "profiles.save")["ok"] is True
    assert cl.profiles.list() == ["local", "new"]


def test_validate_reports_wrong_types_as_field_errors(panel: Panel) -> None:
    fields = {"name": "x", "setup": 5, "resources": {"extra": True}, "port": 1e400}
    panel.send({"v": 1, "type": "profiles.validate", "id": "v", "data": {"profile": fields}})
    reply = panel.reply("v", "profiles.validate")
    assert reply["ok"] and reply["data"]["valid"] is False
    assert set(reply["data"]["errors"]) == {"setup", "resources", "port"}


@pytest.mark.parametrize("version", [True, 1.5, "1", None, [1]], ids=repr)
def test_only_the_number_1_is_protocol_version_1(panel: Panel, version: Any) -> None:
    panel.send({"v": version, "type": "hello", "id": "h"})
    assert_clear_error(panel.reply("h", "hello"))


@settings(max_examples=60, deadline=None)
@given(
    type_=st.sampled_from(FUZZED_TYPES),
    data=REQUEST_DATA,
    id_=st.one_of(hostile().filter(bool), st.just("x" * 10_000)),
)
def test_any_request_gets_exactly_one_reply_with_its_id(type_: str, data: Any, id_: str) -> None:
    """Whatever the fields hold, the kernel answers once with the request's id: the result,
    or an error in words; it never raises, never answers with a Python exception."""
    p = Panel()
    try:
        p.send({"v": 1, "type": type_, "id": id_, "data": data})
        reply = p.reply(id_, type_)
        if not reply["ok"]:
            assert_clear_error(reply)
        time.sleep(0.01)  # a second reply would have arrived by now
        replies = [m for m in p.comm.sent if m.get("id") == id_]
        assert len(replies) == 1
    finally:
        p.close()
        for name in cl.profiles.list():
            if name != "local":
                cl.profiles.delete(name)


# -- the %%cluster line and job names -------------------------------------------------------

MAGIC_TEXT_OPTIONS = [
    *("memory", "time", "gpus", "partition", "account", "qos", "constraint"),
    *("name", "in", "out"),
]


@FAST
@given(line=st.one_of(hostile(), st.text(alphabet="-=ceinorstuypm '\"\\$`;\n", max_size=40)))
def test_any_magic_line_parses_or_shows_the_usage(line: str) -> None:
    try:
        opts = magic.parse_line(line)
    except magic.MagicUsageError as exc:
        assert "usage: %%cluster" in str(exc)
    else:
        assert set(opts) >= {"profile", "cores", "name", "async_"}


@pytest.mark.parametrize("option", MAGIC_TEXT_OPTIONS)
@FAST
@given(value=hostile(), equals=st.booleans())
def test_a_magic_option_value_arrives_as_typed(option: str, value: str, equals: bool) -> None:
    """Split like a shell splits words, never evaluated: ``--opt=VALUE`` always carries
    VALUE; ``--opt VALUE`` too, unless VALUE looks like an option (then: the usage)."""
    quoted = shlex.quote(value)
    line = f"hpc --{option}={quoted}" if equals else f"hpc --{option} {quoted}"
    key = {"in": "inputs", "out": "outputs"}.get(option, option)
    try:
        opts = magic.parse_line(line)
    except magic.MagicUsageError as exc:
        assert not equals and value.startswith("-"), exc
        return
    assert opts[key] == value and opts["profile"] == "hpc"


@FAST
@given(
    resources=st.fixed_dictionaries({}, optional={k: hostile() for k in ["memory", "time"]}),
    names=st.fixed_dictionaries({}, optional={k: hostile() for k in ["partition", "account"]}),
    cores=st.integers(min_value=-5, max_value=10**6),
)
def test_magic_resources_are_refused_or_written_as_directives(
    resources: dict[str, str], names: dict[str, str], cores: int, tmp_path: Path
) -> None:
    """The resources of a %%cluster line go through the decorator's parser: refused with
    a ResourceError naming one of them, or rendered and run as data."""
    line = " ".join(
        [
            f"--cores={cores}",
            *(f"--{k}={shlex.quote(v)}" for k, v in {**resources, **names}.items()),
        ]
    )
    opts = magic.parse_line(line)
    asked = {k: opts[k] for k in ("cores", "memory", "time", "partition", "account")}
    try:
        cl.cluster("local", **asked)
    except ResourceError as exc:
        assert any(f"{k}=" in str(exc) for k in asked)
        return
    where = scratch(tmp_path)
    spec = spec_for(valid(remote_dir=str(where / "rd"), resources=asked))
    assert make_job_dir(spec)
    for _, code in run_scripts(spec, where).values():
        assert code == 0


def test_names_in_and_out_are_looked_up_never_evaluated(tmp_path: Path) -> None:
    """--in/--out hold variable names: they are keys into the notebook's namespace."""
    evil = "__import__('os').system('touch pwned'),$(touch pwned),`touch pwned`"
    cell = magic.CellRun(f"local --out {shlex.quote(evil)}", "x = 1", {"x": 0})
    assert cell.outputs == [
        "__import__('os').system('touch pwned')",
        "$(touch pwned)",
        "`touch pwned`",
    ]
    with pytest.raises(NameError, match="not defined in the notebook"):
        magic.CellRun(f"local --in {shlex.quote(evil)}", "x = 1", {"x": 0})
    assert not planted(Path.cwd()) and not planted(tmp_path)


@FAST
@given(name=hostile(), array=st.booleans())
def test_a_job_name_is_refused_or_reduced_to_a_safe_token(
    name: str, array: bool, tmp_path: Path
) -> None:
    """Through the profile's whole spec (hostile names elsewhere: test_hostile_names.py)."""
    from clusterlab.config.validators import check_job_name

    try:
        check_job_name(name)
    except ValueError as exc:
        assert "e.g. name=" in str(exc)
        return
    where = scratch(tmp_path)
    spec = spec_for(valid(remote_dir=str(where / "rd")), name=name, array=array)
    assert make_job_dir(spec)
    clean = spec_for(valid(remote_dir=str(where / "rd")), name="job", array=array)
    for backend, (script, code) in zip(BACKENDS, run_scripts(spec, where).values(), strict=True):
        assert code == 0
        assert_same_shape(script, backend.job_script(clean))


def _hostile_local_profile(tmp_path: Path) -> cl.Profile:
    """A local profile whose every path goes through a hostile directory name, with an
    interpreter there that is a wrapper around this Python."""
    evil = tmp_path / "$(touch pwned) `touch pwned` ; touch pwned ' \" \u2028 é"
    evil.mkdir()
    wrapper = evil / "py"
    wrapper.write_text(f'#!/bin/sh\n: > "$0.used"\nexec {shlex.quote(sys.executable)} "$@"\n')
    wrapper.chmod(stat.S_IRWXU)
    return cl.profiles.save(
        cl.Profile(
            name="e2e",
            scheduler="local",
            remote_dir=str(evil / "jobs-here"),
            python=f"{shlex.quote(str(wrapper))} -X utf8",
            resources={"partition": "a.b,c+d@e:f", "extra": ["--comment='$(touch pwned)'"]},
        )
    )


def test_a_cell_runs_end_to_end_through_hostile_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole way, for real: %%cluster line, profile, job name, job dir, interpreter,
    a job that prints and returns hostile text and writes a file with a hostile name."""
    monkeypatch.chdir(tmp_path)
    profile = _hostile_local_profile(tmp_path)
    text = "$(touch pwned)\n`touch pwned`\n#SBATCH --wrap='touch pwned'\n\0\x1b[2J"
    ns: dict[str, Any] = {"text": text}
    source = "open('$(touch pwned)', 'w').write(text)\nprint(text)\nout = text[::-1]\ntext"
    name = "$(touch pwned); `touch pwned`"
    line = f"e2e --name {shlex.quote(name)} --memory 100MB --time 1"
    value = magic.run(line, source, ns)
    assert value == text and ns["out"] == text[::-1]
    assert "`touch pwned`" in capsys.readouterr().out
    assert not planted(tmp_path)
    [row] = cl.jobs()
    assert row.name == name and row.state == "COMPLETED"
    assert row.job_dir.startswith(profile.remote_dir + "/jobs/")  # the hostile dir, as typed
    assert (Path(row.job_dir) / "work" / "$(touch pwned)").read_text() == text
    assert Path(shlex.split(profile.python)[0] + ".used").exists()  # that interpreter ran


@pytest.mark.parametrize(
    "index", ["abc", "-1", "2", "", " 1", "\u0661", "1.0", "99999999999999999999"]
)
def test_an_array_item_that_does_not_exist_is_a_sentence(panel: Panel, index: str) -> None:
    """'ARRAYID:INDEX' from the panel or cl.job(): INDEX used to go to int() and a list,
    so 'abc' answered "ValueError: invalid literal...", '2' "IndexError: list index out
    of range", and '-1' quietly meant the last item."""
    arr = cl.cluster("local")(abs).map([-1, -2])
    arr.wait(timeout=60)
    with pytest.raises(cl.ClusterlabError, match=f"e.g. '{arr.id}:0'"):
        cl.job(f"{arr.id}:{index}")
    panel.send({"v": 1, "type": "job.logs", "id": "l", "data": {"id": f"{arr.id}:{index}"}})
    assert_clear_error(panel.reply("l", "job.logs"))
    assert cl.job(f"{arr.id}:1").result(timeout=60) == 2
