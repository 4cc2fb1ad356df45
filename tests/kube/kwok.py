"""Fake nodes that kwok keeps Ready, and waiting on the real control plane."""

import time
from collections.abc import Callable

from lightkube.models.core_v1 import (
    Container,
    NodeSpec,
    NodeStatus,
    PodSpec,
    ResourceRequirements,
    Taint,
    Toleration,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node, Pod

from tidewise.kube.testenv import FAKE_NODE_ANNOTATION

DEADLINE = 90.0
TOLERATE_FAKE = Toleration(key=FAKE_NODE_ANNOTATION, operator="Exists")


def wait_for(what: str, check: Callable[[], bool], deadline: float = DEADLINE) -> None:
    """Poll until ``check`` holds; the deadline is generous because the machine is shared."""
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.5)


def condition(obj: Node | Pod, kind: str) -> bool:
    return any(c.type == kind and c.status == "True" for c in obj.status.conditions or [])


def fake_node(name: str, capacity: dict[str, str], labels: dict[str, str]) -> Node:
    """A Node that kwok keeps Ready: annotated as fake and tainted so only tolerant pods land."""
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110", **capacity}
    return Node(
        metadata=ObjectMeta(name=name, annotations={FAKE_NODE_ANNOTATION: "fake"}, labels=labels),
        spec=NodeSpec(taints=[Taint(key=FAKE_NODE_ANNOTATION, value="fake", effect="NoSchedule")]),
        status=NodeStatus(capacity=capacity, allocatable=capacity),
    )


def fake_pod_spec(requests: dict[str, str], selector: dict[str, str]) -> PodSpec:
    """One container asking for ``requests`` (limits equal), for fake nodes picked by
    ``selector``."""
    resources = ResourceRequirements(requests=requests, limits=requests)
    return PodSpec(
        containers=[Container(name="main", image="fake", resources=resources)],
        nodeSelector=selector,
        tolerations=[TOLERATE_FAKE],
    )
