"""Several clusters: ordered replication from one cluster to another (pure planning, gates and
the run record; docs/fleet.md). ``tidewise.kube.fleet`` reads, applies and waits."""
