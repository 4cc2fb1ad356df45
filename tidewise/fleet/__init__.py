"""Several clusters as one fleet: pure planning of replication, traffic weights and failover."""
