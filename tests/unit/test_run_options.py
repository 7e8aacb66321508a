"""Where and with what a job's code runs (issue 13): env, workdir, setup and files in the
job script; local modules shipped by value; every option checked where it is given.

Hostile values use the plants of test_hostile_input: a value that reaches a shell as code
creates a file named "pwned"."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from hypothesis import given
from hypothesis import strategies as st

import clusterlab as cl
from clusterlab.common.errors import ProfileError
from clusterlab.config.runopts import RunOptions, input_target, parse_run_options
from clusterlab.core.transfer import localcode
from clusterlab.core.transfer.payload import dumps_call, load_result
from tests.unit.test_hostile_input import (
    BACKENDS,
    FAST,
    assert_says_what_to_type,
    hostile,
    planted,
    profile_or_error,
    run_scripts,
    scratch,
    scratch_home,  # noqa: F401 - the autouse fixture: '~' is a scratch dir
    spec_for,
    valid,
)

# -- env ---------------------------------------------------------------------------------


@FAST
@given(value=hostile())
def test_any_env_value_is_refused_or_exported_as_data(value: str, tmp_path: Path) -> None:
    """An env value is data: refused (line breaks, NUL) with a sentence, or exported
    exactly, quoted, so no plant runs and the job sees the same text."""
    where = scratch(tmp_path)
    p = profile_or_error("env", {"DATA": value}, remote_dir=str(where / "rd"))
    if isinstance(p, ProfileError):
        assert_says_what_to_type(p, "env")
        assert any(ch in value for ch in "\n\r\0")
        return
    spec = spec_for(p)
    spec.python = ["sh", "-c", 'printf %s "$DATA" > "$2/seen"', "sh"]
    os.makedirs(spec.job_dir, exist_ok=True)
    for script, code in run_scripts(spec, where).values():
        assert f"export DATA={shlex.quote(value)}\n" in script
        assert code == 0, script
        assert Path(spec.job_dir, "seen").read_bytes() == value.encode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    "name", ["1X", "A-B", "A B", "$(touch pwned)", "", "JOB_DIR", "STATUS", "CLUSTERLAB_X"]
)
def test_env_names_are_identifiers_the_script_does_not_use(name: str) -> None:
    p = profile_or_error("env", {name: "1"})
    assert isinstance(p, ProfileError) and p.field == "env", p


def test_env_from_lines_as_forms_and_the_cli_give_it() -> None:
    assert valid(env=["A=1", "B=x=y"]).env == {"A": "1", "B": "x=y"}
    assert valid(env="A=1\nB=2").env == {"A": "1", "B": "2"}
    assert valid(env={"N": 4}).env == {"N": "4"}


# -- workdir -----------------------------------------------------------------------------


@FAST
@given(value=hostile())
def test_any_workdir_is_refused_or_is_where_the_job_starts(value: str, tmp_path: Path) -> None:
    where = scratch(tmp_path)
    value = str(where / "wd") + "/" + value  # absolute, under the scratch dir
    p = profile_or_error("workdir", value, remote_dir=str(where / "rd"))
    if isinstance(p, ProfileError):
        assert_says_what_to_type(p, "workdir")
        return
    spec = spec_for(p)
    spec.workdir = p.workdir
    spec.python = ["sh", "-c", 'pwd -P > "$2/seen"', "sh"]
    os.makedirs(spec.job_dir, exist_ok=True)
    for script, code in run_scripts(spec, where).values():
        assert f"CLUSTERLAB_WORKDIR={shlex.quote(p.workdir)}\n" in script
        if code == 0:  # it could be created: the job's code started in exactly that dir
            assert os.path.isdir(p.workdir)
        else:
            assert code == 96, script  # not creatable (too long...): stopped, nothing ran


@pytest.mark.parametrize("value", ["project", "./p", "$HOME/p", "~me/p", "-x"])
def test_a_relative_or_variable_workdir_is_refused(value: str) -> None:
    p = profile_or_error("workdir", value)
    assert isinstance(p, ProfileError) and p.field == "workdir"
    assert_says_what_to_type(p, "workdir")


def test_a_workdir_among_clusterlabs_own_files_is_refused(tmp_path: Path) -> None:
    p = cl.Profile(name="w", scheduler="local", remote_dir=str(tmp_path / "rd"))

    @cl.cluster(p, workdir=str(tmp_path / "rd" / "jobs"))
    def f() -> int:
        return 1

    with pytest.raises(cl.ClusterlabError, match="inside clusterlab's own directory"):
        f.submit()


# -- setup -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [["echo 'unclosed"], ['echo "unclosed'], ["module load x \\"], ["cat <<EOF", "x"]],
    ids=["single-quote", "double-quote", "continuation", "heredoc"],
)
def test_setup_that_would_swallow_the_scripts_own_lines_is_refused(lines: list[str]) -> None:
    p = profile_or_error("setup", lines)
    assert isinstance(p, ProfileError) and p.field == "setup"
    assert_says_what_to_type(p, "setup")


def test_setup_lines_run_as_given_and_env_is_visible_to_them(tmp_path: Path) -> None:
    where = scratch(tmp_path)
    p = valid(
        remote_dir=str(where / "rd"),
        env={"WHO": "it's me"},
        setup=["# a comment with an apostrophe's fine", 'SEEN="$WHO, set up"; export SEEN'],
    )
    spec = spec_for(p)
    spec.python = ["sh", "-c", 'printf %s "$SEEN" > "$2/seen"', "sh"]
    os.makedirs(spec.job_dir)
    for _, code in run_scripts(spec, where).values():
        assert code == 0
        assert Path(spec.job_dir, "seen").read_text() == "it's me, set up"


# -- files in ----------------------------------------------------------------------------


@FAST
@given(name=st.sampled_from(["a b.csv", "$(touch pwned).txt", "-rf", "é.dat", "x'y"]))
def test_input_files_are_copied_by_name_and_never_run(name: str, tmp_path: Path) -> None:
    where = scratch(tmp_path)
    stored = where / "blob"
    stored.write_text("payload")
    spec = spec_for(valid(remote_dir=str(where / "rd")))
    spec.inputs = [(str(stored), name), (str(stored), f"sub/{name}")]
    spec.python = ["/bin/true"]
    os.makedirs(spec.job_dir)
    for _, code in run_scripts(spec, where).values():
        assert code == 0
        assert Path(spec.job_dir, "work", name).read_text() == "payload"
        assert Path(spec.job_dir, "work", "sub", name).read_text() == "payload"
    assert not planted(where)


def test_an_input_lands_at_its_relative_path_under_the_cwd_else_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert input_target("data/a.csv") == "data/a.csv"
    assert input_target(str(tmp_path / "b.csv")) == "b.csv"
    assert input_target("/etc/hostname") == "hostname"


def test_run_options_are_checked_where_they_are_given(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="files"):
        parse_run_options({"files": [str(tmp_path / "missing.csv")]})
    for bad in ("/etc/*", "../*.png", "~/x"):
        with pytest.raises(ProfileError, match="outputs"):
            parse_run_options({"outputs": [bad]})
    with pytest.raises(ProfileError, match="unknown option"):
        parse_run_options({"workdri": "/x"})
    with pytest.raises(ProfileError, match="environment"):
        parse_run_options({"environment": "conda"})
    a = RunOptions(env={"A": "1"}, workdir="/p")
    b = parse_run_options({"env": {"B": "2"}})
    assert a.merged(b) == RunOptions(env={"A": "1", "B": "2"}, workdir="/p")


# -- local code travels ------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A notebook's directory with two modules of the user's own: mymod uses helper."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "helper_cl13.py").write_text("def twice(x):\n    return 2 * x\n")
    (root / "mymod_cl13.py").write_text(
        textwrap.dedent(
            """
            import helper_cl13
            from helper_cl13 import twice

            SCALE = 10

            class Point:
                def __init__(self, x):
                    self.x = x

            def double(x):
                return helper_cl13.twice(x) * SCALE // 10

            def via_name(p):
                return twice(p.x)
            """
        )
    )
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in ("mymod_cl13", "helper_cl13"):
        sys.modules.pop(name, None)
    localcode._verdicts.clear()


def _load_elsewhere(data: bytes, tmp_path: Path) -> Any:
    """Unpickle and call in a fresh Python that cannot import the project (as a cluster)."""
    (tmp_path / "p.pkl").write_bytes(data)
    code = (
        "import cloudpickle, sys\n"
        "fn, args, kwargs, refs = cloudpickle.load(open(sys.argv[1], 'rb'))\n"
        "print(fn(*args, **kwargs))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "p.pkl")],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_function_imported_from_a_local_module_travels_with_its_helpers(
    project: Path, tmp_path: Path
) -> None:
    from mymod_cl13 import Point, double, via_name  # type: ignore[import-not-found]

    assert localcode.local_modules(double) == {"mymod_cl13", "helper_cl13"}
    res = _load_elsewhere(dumps_call(double, (21,), {}, {}), tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "42", res.stderr
    res = _load_elsewhere(dumps_call(via_name, (Point(4),), {}, {}), tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "8", res.stderr
    # only during the dump: the registry is as it was
    assert not cloudpickle.cloudpickle._PICKLE_BY_VALUE_MODULES & {"mymod_cl13", "helper_cl13"}


def test_a_module_the_user_registered_by_value_stays_registered(
    project: Path, tmp_path: Path
) -> None:
    """A dump must not undo the user's own ``register_pickle_by_value`` (bench/suite.py
    registers its modules so submitit's jobs get them by value: a dump of ours then
    unregistered them and submitit's jobs failed with No module named 'roundtrip')."""
    import mymod_cl13  # type: ignore[import-not-found]

    cloudpickle.register_pickle_by_value(mymod_cl13)
    try:
        res = _load_elsewhere(dumps_call(mymod_cl13.double, (2,), {}, {}), tmp_path)
        assert res.returncode == 0 and res.stdout.strip() == "4", res.stderr
        assert "mymod_cl13" in cloudpickle.list_registry_pickle_by_value()
    finally:
        cloudpickle.unregister_pickle_by_value(mymod_cl13)


def test_installed_and_stdlib_modules_are_never_shipped() -> None:
    import json

    import hypothesis

    assert localcode.local_modules(json.dumps, hypothesis.given, cl.cluster, os.path) == set()
    assert not localcode.is_local("clusterlab.api")


def test_the_runner_loads_a_local_modules_function(project: Path, tmp_path: Path) -> None:
    """The real runner, in a job dir, with a Python that cannot import the project."""
    from mymod_cl13 import double

    from clusterlab.common import jobdir
    from clusterlab.remote import runner

    (tmp_path / "job").mkdir()
    job = tmp_path / "job"
    (job / jobdir.PAYLOAD).write_bytes(dumps_call(double, (5,), {}, {}))
    for name in jobdir.RUNNER_FILES:  # the runner and its second file
        (job / name).write_bytes((Path(runner.__file__).parent / name).read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, jobdir.RUNNER, str(job)], cwd=job, env=env, check=True)
    assert load_result((job / jobdir.RESULT).read_bytes()) == (True, 10)


def test_backends_render_nothing_new_without_options(tmp_path: Path) -> None:
    """No env, workdir or files: the script is the one every golden file shows."""
    spec = spec_for(valid(remote_dir=str(tmp_path / "rd")))
    for backend in BACKENDS:
        script = backend.job_script(spec)
        assert "CLUSTERLAB_WORKDIR" not in script and "export " not in script


def test_a_large_argument_of_a_local_class_travels_by_value(project: Path, tmp_path: Path) -> None:
    """Large arguments become blobs (pickled apart from the call): theirs too."""
    from mymod_cl13 import Point

    from clusterlab.core.transfer.blobs import _large

    data = _large(Point(b"x" * (2 * 1024 * 1024)))
    assert data is not None
    (tmp_path / "blob.pkl").write_bytes(data)
    code = "import cloudpickle, sys; print(len(cloudpickle.load(open(sys.argv[1], 'rb'))[1].x))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "blob.pkl")],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0 and res.stdout.strip() == str(2 * 1024 * 1024), res.stderr


@pytest.mark.parametrize(
    "lines",
    [
        ["module load python/3.11  # don't forget"],
        ['echo "it\'s fine"', "echo 'a \"quoted\" word'"],
        ["if true; then", "  export A=1", "fi"],
        ["source ~/venv/bin/activate \\", "  && echo on"],
    ],
)
def test_ordinary_setup_lines_are_kept(lines: list[str]) -> None:
    assert valid(setup=lines).setup == lines
