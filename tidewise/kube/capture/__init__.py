"""``tidewise capture``'s reads: the cluster's workloads, autoscalers and nodes (``cluster``)
and each service's history from Prometheus (``history``)."""
