"""A profile is refused where it is named: a typo fails on the line that has it, with
the known names, the closest one and how to create it, never at the first call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import clusterlab as cl
from clusterlab.ui import magic


@pytest.fixture(autouse=True)
def hpc() -> None:
    cl.profiles.save(cl.Profile(name="hpc", scheduler="slurm", host="login.example.edu"))


NAMINGS: dict[str, Callable[[], Any]] = {
    "decorator": lambda: cl.cluster("hcp", cores=2)(abs),
    "bare decorator call": lambda: cl.cluster("hcp"),
    "Executor": lambda: cl.Executor("hcp"),
    "options(profile=)": lambda: cl.cluster("local")(abs).options(profile="hcp"),
    "%%cluster": lambda: magic.run("hcp --cores 2", "x = 1", {}),
    "use": lambda: cl.use("hcp"),
}


@pytest.mark.parametrize("naming", NAMINGS, ids=str)
def test_a_typo_is_refused_where_the_profile_is_named(naming: str) -> None:
    with pytest.raises(cl.ProfileError) as err:
        NAMINGS[naming]()
    message = str(err.value)
    assert "no profile named 'hcp' (did you mean 'hpc'?); known profiles: local, hpc" in message
    assert "cl.profiles.save(cl.Profile(name='hcp'" in message
    assert "`clusterlab profile add hcp`" in message
    assert cl.jobs() == []  # nothing was submitted


def test_a_name_far_from_every_profile_lists_them_without_a_guess() -> None:
    with pytest.raises(cl.ProfileError) as err:
        cl.cluster("gpu-cluster")
    assert "did you mean" not in str(err.value)
    assert "known profiles: local, hpc" in str(err.value)


def test_a_profile_that_is_not_a_name_is_refused() -> None:
    with pytest.raises(TypeError, match="give a profile's name such as 'hpc', a cl.Profile"):
        cl.cluster(5)


def test_known_names_profiles_and_the_session_default_pass() -> None:
    assert cl.cluster("hpc")(abs).profile == "hpc"
    assert cl.cluster(cl.Profile(name="unsaved"))(abs).profile.name == "unsaved"  # type: ignore[union-attr]
    assert cl.cluster(abs).profile is None  # the session default, resolved at call time
    moved = cl.cluster("hpc", cores=2)(abs).options(profile="local", memory="1GB")
    assert moved.profile == "local" and moved.resources.to_dict() == {
        "cores": 2,
        "memory": "1024MB",
    }
