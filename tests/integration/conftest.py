"""Fixtures that several integration modules share (tests/conftest.py has the sandbox and
the profiles every test level uses)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def no_other_agents() -> None:
    """Earlier tests' runtimes share the sandbox's SSH connection and may still hold its
    agent slots (core/watching/agentslots.AGENTS_PER_CONNECTION) until their idle stop:
    end them, so a module that counts or kills agents starts with its own."""
    from clusterlab.core import runtime as core
    from clusterlab.core.watching import agentslots as push

    for runtime in list(core._runtimes.values()):
        runtime.push.close()
    deadline = time.monotonic() + 10
    while any(push._agents.values()) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def lockstep_dir() -> Iterator[str]:
    """A dir the sandbox's SSH user (who runs the job) can see the test's files in: a
    lockstep job (test_follow_push._lockstep) waits there for the test's ``go.i`` files."""
    path = tempfile.mkdtemp(prefix="clusterlab-follow-", dir="/tmp")
    os.chmod(path, 0o755)  # noqa: S103 (the job, another user, only checks for files)
    yield path
    shutil.rmtree(path, ignore_errors=True)
