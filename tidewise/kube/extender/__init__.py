"""The GPU-share scheduler extender: kube-scheduler asks it where GPU-share pods fit, which
node the placement engine prefers, and leaves it to bind them (recording the GPUs chosen).

``resources`` reads pods and nodes, ``state`` keeps the books and asks the engine,
``protocol`` is the wire format, ``watch`` keeps the books in step with the API server,
``binder`` binds, ``server`` serves; docs/kubernetes.md tells how to deploy it.
Importing the package loads ``config`` only, not ``server``: the provisioner and the training
queue read pods with ``resources`` and should not load aiohttp for a server they do not run.
"""

from tidewise.kube.extender.config import extender_stanza

__all__ = ["extender_stanza"]
