"""Replicating an application from one cluster to another, for real: ``read`` finds what to
copy on the source cluster and the lightkube resource for each kind, ``sync`` applies a plan's
steps to the target in order, waits at their gates and records the run (docs/fleet.md). The
decisions (what to copy, in which order, when a gate is green) are ``tidewise.fleet``'s."""
