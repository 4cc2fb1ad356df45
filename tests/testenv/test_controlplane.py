"""The real control plane schedules and runs a Deployment on a fake GPU node.

The kube-scheduler binds the pods by their GPU request, the controller manager makes the
ReplicaSet and its pods, and kwok plays the kubelet that reports them Running and Ready.
"""

import uuid

import pytest
from lightkube import Client
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Node, Pod

from tests.kube.kwok import condition, fake_node, fake_pod_spec, wait_for
from tidewise.testenv import Cluster, status
from tidewise.testenv.cluster import COMPONENTS

pytestmark = pytest.mark.e2e

GPU = "nvidia.com/gpu"


def fake_gpu_node(name: str, gpus: int) -> Node:
    return fake_node(
        name, {GPU: str(gpus)}, {"type": "kwok", "node.kubernetes.io/instance-type": "g5.12xlarge"}
    )


def gpu_deployment(name: str, replicas: int) -> Deployment:
    labels = {"app": name}
    one_gpu = {"cpu": "1", "memory": "1Gi", GPU: "1"}
    return Deployment(
        metadata=ObjectMeta(name=name),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(matchLabels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=fake_pod_spec(one_gpu, {"type": "kwok"}),
            ),
        ),
    )


def test_scheduler_binds_and_kwok_runs_a_gpu_deployment(kube: Client):
    suffix = uuid.uuid4().hex[:6]
    node, namespace = f"gpu-{suffix}", f"e2e-{suffix}"
    kube.create(fake_gpu_node(node, gpus=4))
    kube.create(Namespace(metadata=ObjectMeta(name=namespace)))
    wait_for("kwok to make the node Ready", lambda: condition(kube.get(Node, node), "Ready"))

    kube.create(gpu_deployment("inference", replicas=3), namespace=namespace)

    def pods() -> list[Pod]:
        return list(kube.list(Pod, namespace=namespace, labels={"app": "inference"}))

    wait_for(
        "three Running, Ready pods",
        lambda: (
            [(p.status.phase, condition(p, "Ready")) for p in pods()] == [("Running", True)] * 3
        ),
    )
    running = pods()
    assert {p.spec.nodeName for p in running} == {node}
    assert all(p.status.podIP for p in running)
    deployment = kube.get(Deployment, "inference", namespace=namespace)
    assert deployment.status.readyReplicas == 3


def test_status_reports_every_component_healthy(cluster: Cluster):
    assert status(cluster.folder) == dict.fromkeys(COMPONENTS, "ok")
