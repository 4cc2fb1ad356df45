"""kwok's contract with the Nodes it plays: the annotation that hands a Node to kwok.

Why here: the kwok provider stamps it on the Nodes it launches (with a taint of the same key,
so only pods that tolerate fake nodes land there), and the test control plane
(``tidewise.testenv``) starts kwok to manage exactly the Nodes that carry it; both must say
the same, and the provider must not import a development tool to know it.
"""

FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
FAKE_NODE_VALUE = "fake"
"""The annotation's value, and the value of the taint of the same key."""
