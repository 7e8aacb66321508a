"""Fixtures of the notebook tests: a real IPython kernel, as JupyterLab starts one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel


@pytest.fixture
def kernel() -> Iterator[Any]:
    """A client of a fresh ``python3`` kernel, shut down after the test."""
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
