"""Online/offline co-location on a real cluster (docs/colocation.md, "On a cluster"): the
``colocation`` controller publishes, per node, what online pods requested and left idle as
batch resources and evicts batch pods when online usage rises (``controller``); a mutating
admission webhook moves a batch pod's CPU and memory onto those resources and gives it the
lowest priority (``webhook``). The rule is the pure ``tidewise.capacity.reclaim``, the one
the twin applies too."""
