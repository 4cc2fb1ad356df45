"""How every tidewise component talks to the Kubernetes API: the one layer the extender, the
provisioner, the controllers, the training queue and the fleet sync share.

Why a layer of its own: these components used to borrow from each other (the provisioner read
pods with the extender's reader, the controllers posted Events through the provisioner's
module, the queue and the controllers imported each other), so a change to one rippled into
the rest. What more than one of them needs lives here, and they depend on it, never on each
other (docs/architecture.md, tests/test_layering.py):

* ``resources``: pods and nodes read in the placement engine's units (Kubernetes quantities,
  GPU-share requests, GPU feature discovery's labels);
* ``annotations``: the gpushare annotations that record which GPUs a pod holds;
* ``kwok``: kwok's contract with the Nodes it plays (shared with the test control plane);
* ``events``: Events about any object, best effort;
* ``eviction``: evicting a pod through the Eviction API (drains, the defragmenter);
* ``status``: RFC 3339 stamps and Kubernetes' condition rule;
* ``lease``: leader election on a ``coordination.k8s.io/v1`` Lease;
* ``loop``: the controller contract, the loop that drives one while leading, one pass over
  every object of a kind, and the controllers' Prometheus metrics (``metrics``).

Importing the package loads nothing: each module is imported for what it holds, so a reader
of pods does not load the HTTP or metrics stacks.
"""
