"""The GPU-share scheduler extender: kube-scheduler asks it where GPU-share pods fit, which
node the placement engine prefers, and leaves it to bind them (recording the GPUs chosen).

``state`` keeps the books and asks the engine, ``protocol`` is the wire format, ``watch``
keeps the books in step with the API server, ``binder`` binds, ``server`` serves; pods and
nodes are read, and the GPUs recorded, by ``tidewise.kube.api`` (``resources``,
``annotations``), as every other component reads them. docs/kubernetes.md tells how to deploy
it. Importing the package loads ``config`` only, not ``server``: the test control plane and
``tidewise testenv up --extender`` need the scheduler stanza, not aiohttp.
"""

from tidewise.kube.extender.config import extender_stanza

__all__ = ["extender_stanza"]
