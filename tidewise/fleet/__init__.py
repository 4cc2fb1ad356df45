"""Several clusters as one fleet (pure): ordered replication from one cluster to another
(planning, gates, the run record; docs/fleet.md), traffic weights, gradual shifts and failover
(docs/traffic.md). ``tidewise.kube.fleet`` and ``tidewise.gateways`` do the I/O."""
