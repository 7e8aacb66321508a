"""Discovery: what a cluster offers (partitions, limits, load, accounts), cached per cluster
on this machine (:mod:`.cache`), checked before submission (:mod:`.limits`)."""
