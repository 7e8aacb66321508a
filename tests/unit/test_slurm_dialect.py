def test_capacity_without_a_partition_is_the_default_partitions() -> None:
    """A job without a partition runs in the default one: counting every partition's CPUs
    (the old one-line sinfo) planned 24 array tasks for the sandbox's 16-CPU default
    partition once it gained two more nodes, and counts a node in two partitions twice."""
    from clusterlab.backends.slurm import _usable_cpus

    out = "MaxArraySize=1001\nCPUS debug* 0/16/0/16\nCPUS multi 2/6/0/8\nCPUS low 0/8/0/8\n"
    assert _usable_cpus(out) == 16
    assert _usable_cpus("CPUS low 1/7/0/8\n") == 8  # one partition asked for by name
    assert _usable_cpus("CPUS low 0/8/0/8\nCPUS high 0/8/0/8\n") == 16  # no default marked
