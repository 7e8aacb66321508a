"""What ``cl.estimate()`` makes of SLURM's ``sbatch --test-only`` and ``sshare``."""

from __future__ import annotations

from clusterlab.backends import discovery_script, slurm_estimate

M = "@@clusterlab-discovery@@"


def sections(test: str, test_status: int, share: str) -> dict[str, discovery_script.Section]:
    text = (
        f"{M} test\n{test}\n{M} test status {test_status}\n{M} share\n{share}\n{M} share status 0\n"
    )
    return discovery_script.parse(text)


def test_start_partition_and_fair_share() -> None:
    said = (
        "sbatch: Job 77 to start at 2026-12-06T15:30:00 using 4 processors on nodes n1 "
        "in partition long"
    )
    est = slurm_estimate.parse(sections(said, 0, "physics|alice|0.734000"))
    assert est.start is not None and (est.start.hour, est.start.minute) == (15, 30)
    assert est.partition == "long" and est.fair_share == 0.734 and est.why == ()
    assert "would start at 2026-12-06 15:30:00 in partition 'long'" in str(est)


def test_a_refusal_is_the_reason_and_no_accounting_is_said() -> None:
    said = "allocation failure: More processors requested than permitted"
    est = slurm_estimate.parse(sections(said, 1, ""))
    assert est.start is None
    assert est.reason == f"SLURM would not run it: {said}"
    assert est.fair_share is None and "no fair share" in est.why[0]


def test_the_jobs_own_options_reach_sbatch_as_arguments_not_script_text() -> None:
    from clusterlab.backends.slurm import SlurmBackend
    from clusterlab.config.profile import Profile
    from clusterlab.config.resources import parse_resources
    from clusterlab.transports.local import LocalTransport

    backend = SlurmBackend(Profile(name="x", scheduler="slurm"), LocalTransport())
    opts = slurm_estimate.options(backend, parse_resources({"cores": 4, "time": "1:00:00"}))
    assert "--cpus-per-task=4" in opts and "--time=01:00:00" in opts
    assert not [o for o in opts if o.startswith(("--output", "--error"))]
    assert [o for o in opts if o.startswith("--job-name")] == ["--job-name=clusterlab-estimate"]
    assert "$@" in discovery_script.build(slurm_estimate.COMMANDS)


def test_a_full_queue_is_named_with_what_to_do() -> None:
    """What sbatch printed here when the sandbox's slurmctld reached MaxJobCount (10,000
    array tasks held by the soak), after two minutes of retries: it named neither the
    limit nor a way out."""
    from clusterlab.backends.slurm import SlurmBackend
    from clusterlab.config.profile import Profile
    from clusterlab.transports.local import LocalTransport

    backend = SlurmBackend(Profile(name="x", scheduler="slurm"), LocalTransport())
    stderr = (
        "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\n"
        "sbatch: error: Batch job submission failed: Resource temporarily unavailable\n"
    )
    said = backend.explain_submit_error(stderr)
    assert said.startswith("the cluster accepts no more jobs for now (its queue is full")
    assert "wait for jobs to end" in said and "Resource temporarily unavailable" in said
