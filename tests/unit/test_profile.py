from __future__ import annotations

import stat
from pathlib import Path

import pytest

import clusterlab as cl
from clusterlab.config.profile import schema


def test_local_profile_always_exists_and_is_default() -> None:
    assert cl.profiles.list() == ["local"]
    assert cl.profiles.load("local").scheduler == "local"
    assert cl.profiles.resolve(None).name == "local"


def test_save_load_round_trip_file_is_private(isolated_dirs: Path) -> None:
    p = cl.Profile(
        name="hpc",
        scheduler="slurm",
        host="login.example.edu",
        user="me",
        port=2222,
        key_file="~/.ssh/id_ed25519",
        setup=["module load python/3.11"],
        resources={"cores": 4, "memory": "8GB", "time": "01:00:00", "partition": "normal"},
    )
    cl.profiles.save(p)
    assert cl.profiles.list() == ["local", "hpc"]
    assert cl.profiles.load("hpc") == p
    path = cl.profiles.path()
    assert path.parent == isolated_dirs / "config"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    cl.profiles.delete("hpc")
    assert cl.profiles.list() == ["local"]


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"name": "my cluster"}, "name"),
        ({"name": "x", "scheduler": "lsf"}, "scheduler"),
        ({"name": "x", "scheduler": "slurm", "port": 70000}, "port"),
        ({"name": "x", "scheduler": "slurm", "host": "a b"}, "host"),
        ({"name": "x", "scheduler": "slurm", "host": "-oProxyCommand=evil"}, "host"),
        ({"name": "x", "scheduler": "slurm", "user": "me;rm"}, "user"),
        ({"name": "x", "resources": {"cpus": 4}}, "resources"),
        ({"name": "x", "resources": {"memory": "lots"}}, "resources"),
        ({"name": "x", "poll_interval": 0}, "poll_interval"),
        ({"name": "x", "scheduler": "local", "host": "somewhere"}, "host"),
    ],
)
def test_invalid_field_names_the_field_and_saves_nothing(
    fields: dict[str, object], bad_field: str
) -> None:
    with pytest.raises(cl.ProfileError) as err:
        cl.profiles.save(cl.Profile(**fields))  # type: ignore[arg-type]
    assert err.value.field == bad_field
    assert bad_field in err.value.errors
    assert not cl.profiles.path().exists()


def test_all_errors_are_reported_at_once() -> None:
    with pytest.raises(cl.ProfileError) as err:
        cl.Profile(name="bad name", scheduler="slurm", port=0)
    assert set(err.value.errors) == {"name", "port"}


def test_unknown_field_lists_valid_fields() -> None:
    with pytest.raises(cl.ProfileError, match="valid fields are: .*key_file"):
        cl.Profile.from_dict({"name": "x", "password": "hunter2"})


def test_store_holds_no_secret_fields() -> None:
    names = {f["name"] for f in schema()}
    assert not names & {"password", "passphrase", "secret", "token"}


def test_missing_profile_error_says_how_to_create() -> None:
    with pytest.raises(cl.ProfileError, match="known profiles: local.*profiles.save"):
        cl.profiles.load("nope")


def test_use_sets_session_default() -> None:
    cl.profiles.save(cl.Profile(name="other"))
    cl.use("other")
    assert cl.profiles.resolve(None).name == "other"


def test_schema_drives_every_field_with_a_tooltip() -> None:
    fields = schema()
    assert [f["name"] for f in fields][:2] == ["name", "scheduler"]
    for f in fields:
        assert len(f["tooltip"]) > 30, f["name"]
        assert f["label"]
        assert f["kinds"]
    host = next(f for f in fields if f["name"] == "host")
    assert host["kinds"] == ["slurm", "pbs", "sge", "direct"]  # the kinds that may run over SSH


def test_corrupt_store_gives_a_clear_error(isolated_dirs: Path) -> None:
    cl.profiles.path().parent.mkdir(parents=True)
    cl.profiles.path().write_text("[profiles.x\n")
    with pytest.raises(cl.ProfileError, match="not valid TOML"):
        cl.profiles.list()


def test_replace_validates() -> None:
    p = cl.Profile(name="a", scheduler="slurm", host="h")
    assert p.replace(port=2200).port == 2200
    with pytest.raises(cl.ProfileError):
        p.replace(port="x")


def test_saves_from_two_processes_at_once_all_survive() -> None:
    """Review defect: 54 of 100 concurrent saves survived; the store is now locked."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import sys, clusterlab as cl
        for i in range(40):
            cl.profiles.save(cl.Profile(name=f"{sys.argv[1]}{i}", scheduler="slurm", host="h"))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, tag]) for tag in ("a", "b", "c")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    saved = set(cl.profiles.list())
    assert {f"{t}{i}" for t in "abc" for i in range(40)} <= saved


@pytest.mark.parametrize("known_hosts", ["/dev/null", "", "/tmp"])
def test_trust_on_first_use_needs_a_file_that_remembers(known_hosts: str) -> None:
    """Review defect: TOFU with known_hosts=/dev/null accepted every key, even a changed one."""
    with pytest.raises(cl.ProfileError, match="remembers keys") as info:
        cl.Profile(
            name="t", scheduler="slurm", host="h", trust_on_first_use=True, known_hosts=known_hosts
        )
    assert info.value.field == "known_hosts"
    text = (
        '[profiles.t]\nscheduler = "slurm"\nhost = "h"\ntrust_on_first_use = true\n'
        f'known_hosts = "{known_hosts}"\n'
    )
    with pytest.raises(cl.ProfileError, match="remembers keys"):
        cl.profiles.import_profiles(text)
    assert "t" not in cl.profiles.list()


def test_importing_a_trusting_profile_warns_loudly(tmp_path: Path) -> None:
    text = (
        '[profiles.t]\nscheduler = "slurm"\nhost = "h"\ntrust_on_first_use = true\n'
        f'known_hosts = "{tmp_path}/kh"\n'
    )
    with pytest.warns(UserWarning, match="trust an SSH host key they have never seen"):
        cl.profiles.import_profiles(text)


def test_job_script_previews_what_a_submission_would_run(isolated_dirs: Path) -> None:
    """cl.profiles.job_script renders through the backend a submission uses, without
    connecting (the host is fictional) or staging anything."""
    cl.profiles.save(
        cl.Profile(
            name="pb", scheduler="pbs", host="login.example.edu", resources={"queue": "workq"}
        )
    )
    script = cl.profiles.job_script("pb", nodes=2, tasks=4, cores=2)
    assert "\n#PBS -l select=2:ncpus=4:mpiprocs=2\n#PBS -l place=scatter\n#PBS -q workq\n" in script
    assert "JOB_DIR='~/.clusterlab/jobs/JOBID'" in script  # ~ is left to the remote side
    with pytest.raises(cl.ResourceError, match="PBS has no QOS"):
        cl.profiles.job_script("pb", qos="high")
    local = cl.profiles.job_script()  # the session default, "local"
    assert f"JOB_DIR={isolated_dirs / 'data' / 'jobs' / 'JOBID'}\n" in local
    assert not (isolated_dirs / "data" / "jobs").exists()  # nothing was staged
