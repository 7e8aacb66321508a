"""Plain configuration data: the Profile schema and its validation, resource parsing and
where clusterlab keeps its files on this machine. No I/O beyond those files."""
