"""When would a SLURM job start: ``sbatch --test-only`` with the job's own options (the
scheduler's answer, nothing is queued) and the user's fair share from ``sshare``, in one
round trip. The options are the backend's rendered directives, passed as ``$@`` to a
constant script, never spliced into it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ..common.estimate import Estimate
from ..config.resources import Resources
from . import discovery_script
from .base import JobSpec

COMMANDS = (
    ("test", 'sbatch --test-only --wrap=true "$@"'),
    ("share", "sshare -hP -U -o Account,User,FairShare"),
)
_START_RE = re.compile(r"to start at (\S+)(?:.* in partition (\S+))?")
JOB_NAME = "clusterlab-estimate"  # --test-only queues nothing; the name says who asked
_OWN = ("--output=", "--error=", "--job-name=")


def options(backend: Any, resources: Resources) -> list[str]:
    """The sbatch options a job with ``resources`` is submitted with (no output files)."""
    spec = JobSpec(job_id="estimate", name="estimate", job_dir="/", resources=resources, python=[])
    lines = [d.removeprefix("#SBATCH ") for d in backend.directives(spec)]
    return [f"--job-name={JOB_NAME}", *(o for o in lines if not o.startswith(_OWN))]


def estimate(backend: Any, resources: Resources) -> Estimate:
    """Ask SLURM when a job with ``resources`` would start, and the user's fair share."""
    sections = discovery_script.run(backend.transport, COMMANDS, args=options(backend, resources))
    return parse(sections)


def parse(sections: dict[str, discovery_script.Section]) -> Estimate:
    why: list[str] = []
    share = sections.get("share")
    fair: float | None = None
    if share is not None and share.ok:
        values = [ln.split("|")[-1] for ln in share.out.splitlines() if ln.count("|") >= 2]
        numbers = [float(v) for v in values if re.fullmatch(r"\d+(\.\d+)?", v)]
        fair = min(numbers) if numbers else None
    if fair is None:
        why.append("no fair share: the cluster keeps no accounting (sshare has no row for you)")
    test = sections.get("test")
    if test is None:
        return Estimate(None, "sbatch --test-only did not run", fair_share=fair, why=tuple(why))
    m = _START_RE.search(test.out)
    if not test.ok or not m:
        said = test.out.strip().splitlines()[-1] if test.out.strip() else f"exit {test.status}"
        return Estimate(None, f"SLURM would not run it: {said}", fair_share=fair, why=tuple(why))
    try:
        start = datetime.fromisoformat(m.group(1)).astimezone()  # the cluster's local time
    except ValueError:
        return Estimate(None, f"SLURM said {test.first_line()!r}", fair_share=fair, why=tuple(why))
    return Estimate(start, "", m.group(2), fair_share=fair, why=tuple(why))
