"""The week twin: replicated services on a simulated cloud, their pods, nodes and bill.

``scenario`` reads what to replay, ``runner`` runs it under each of ``policies`` in ``twin``
(the event loop) on ``cloud`` (boot delays, spot market, ``billing``, ``ledger``);
``replicas`` are the twin's replica controllers, ``rightsizing`` prices the VPA's advice,
``karpenter`` feeds the tidewise policy to the Karpenter render (docs/twin.md).
"""
