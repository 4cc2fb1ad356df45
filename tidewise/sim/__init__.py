"""The twins, one subpackage per thing simulated (``services``, ``jobs``, ``gpupack``,
``autoscale``, ``serving``), each with its benchmark harness as its ``bench`` module; the
trace readers and simulated pod metrics they share sit here (docs/architecture.md)."""
