"""The sample job both golden-script suites render (SLURM, PBS), and the golden-file
comparison they share (``CLUSTERLAB_UPDATE_GOLDEN=1`` rewrites the files)."""

from __future__ import annotations

import os
from pathlib import Path

from clusterlab.backends.base import JobSpec
from clusterlab.config.resources import parse_resources

GOLDEN = Path(__file__).parent.parent / "golden"
JOB_DIR = "/home/me/.clusterlab/jobs/20261123-120000-abcdef"


def sample_spec(after: list[str], job_dir: str = JOB_DIR, **res: object) -> JobSpec:
    return JobSpec(
        job_id="20261123-120000-abcdef",
        name="train model",
        job_dir=job_dir,
        resources=parse_resources(res),
        python=["/opt/py 3/bin/python", "-X", "faulthandler"],
        setup=["module load python/3.11"],
        after=after,
    )


def golden(name: str, script: str) -> str:
    """The golden file's text (first written from ``script`` when updating)."""
    path = GOLDEN / name
    if os.environ.get("CLUSTERLAB_UPDATE_GOLDEN") == "1":
        path.write_text(script)
    return path.read_text()
