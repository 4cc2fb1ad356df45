"""Which pods keep their node from a voluntary scale-down: cluster-autoscaler's drain rules
(``utils/drain``: no controller, local storage, ``safe-to-evict: "false"``, with
``safe-to-evict: "true"`` and ``safe-to-evict-local-volumes`` as the ways out) and Karpenter's
``karpenter.sh/do-not-disrupt``; and the node autoscaler leaving such nodes alone."""

import asyncio

import pytest

from tests.kube.provider.fakes import OPTIONS, Clock, FakeApi, bound_pod, offerings, ready, settle
from tidewise.capacity import NodeAutoscaler, NodeAutoscalerSettings
from tidewise.kube.provider import KwokProvider, Provisioner
from tidewise.kube.provider.disruption import blocks_scale_down
from tidewise.model import Drain

SAFE = "cluster-autoscaler.kubernetes.io/safe-to-evict"
LOCAL = "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"
EMPTY_DIR = {"name": "scratch", "emptyDir": {}}
MEMORY_DIR = {"name": "cache", "emptyDir": {"medium": "Memory"}}
HOST_PATH = {"name": "logs", "hostPath": {"path": "/var/log"}}


def pod(annotations=None, owners=True, volumes=()):
    body = bound_pod("p", "n", annotations=dict(annotations or {}))
    if not owners:
        body["metadata"]["ownerReferences"] = []
    body["spec"]["volumes"] = list(volumes)
    return body


@pytest.mark.parametrize(
    ("body", "blocks"),
    [
        (pod(), None),
        (pod({"karpenter.sh/do-not-disrupt": "true"}), "karpenter.sh/do-not-disrupt"),
        (pod({SAFE: "false"}), "safe-to-evict"),
        (pod(owners=False), "no controller"),
        (pod(owners=False, annotations={SAFE: "true"}), None),
        (pod(volumes=[EMPTY_DIR]), "local storage"),
        (pod(volumes=[HOST_PATH]), "local storage"),
        (pod(volumes=[MEMORY_DIR]), None),
        (pod({SAFE: "true"}, volumes=[EMPTY_DIR, HOST_PATH]), None),
        (pod({LOCAL: "scratch, logs"}, volumes=[EMPTY_DIR, HOST_PATH]), None),
        (pod({LOCAL: "scratch"}, volumes=[EMPTY_DIR, HOST_PATH]), "local storage"),
    ],
)
def test_the_pods_that_keep_their_node(body, blocks):
    said = blocks_scale_down(body)
    assert (said is None) if blocks is None else (blocks in said)


def test_scale_down_passes_over_a_node_whose_pod_has_no_controller():
    async def scenario():
        api, clock = FakeApi(), Clock()
        catalog = offerings("m6i.large")
        cheapest = min(catalog, key=lambda o: o.price_per_hour)
        provider = KwokProvider(api, catalog, boot_delay_s=0, clock=clock)
        held, free, busy = [await provider.launch(cheapest) for _ in range(3)]
        await settle()
        ready(api)
        bare = bound_pod("bare", held)
        bare["metadata"]["ownerReferences"] = []
        api.add("Pod", bare)  # held and free are under half used, busy has room for one pod
        api.add("Pod", bound_pod("owned", free))
        api.add("Pod", bound_pod("busy-1", busy))
        api.add("Pod", bound_pod("busy-2", busy))
        settings = NodeAutoscalerSettings(unneeded_s=0, delay_after_add_s=0)
        policy = NodeAutoscaler(OPTIONS, settings)
        provisioner = Provisioner(api, provider, policy, catalog, clock=clock)
        drains = [d for d in await provisioner.reconcile() if isinstance(d, Drain)]
        assert [d.node for d in drains] == [free]

    asyncio.run(scenario())
