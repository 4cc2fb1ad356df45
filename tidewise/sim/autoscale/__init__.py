"""One service replayed against a request-rate trace (``replay``), and ``tidewise bench
autoscale``'s harness that runs the replica policies side by side on it (``bench``)."""
