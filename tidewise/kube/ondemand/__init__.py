"""Each workload's on-demand base on a real cluster (docs/on-demand-base.md): a mutating
admission webhook that pins every new replica of an opted-in workload to on-demand or spot
capacity (``webhook``, served by ``server``), and a reconciler in the operator that repairs
what admission alone could not hold and keeps the pods' deletion costs right
(``reconciler``). The decisions are the pure ``tidewise.capacity.ondemand_base``."""
