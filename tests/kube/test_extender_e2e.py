"""The real kube-scheduler places GPU-share pods through the extender onto kwok GPU nodes.

The extender runs as its own process (``tidewise extender serve``), as it would in a
cluster, so that restarting it loses all its memory: what it knows after a restart it can
only have read back from the API server.
"""

import http.client
import time
import urllib.error
import urllib.request

import pytest
from lightkube.resources.core_v1 import Event, Pod

from tests.kube.gpushare import (
    HALF,
    ONE,
    QUARTER,
    assert_no_gpu_over_committed,
    bound,
    failed_scheduling,
    gpu_nodes,
    gpu_pod,
)
from tests.kube.kwok import wait_for
from tidewise.kube.api.annotations import GPU_INDEX, recorded_gpus
from tidewise.kube.api.resources import MODEL_LABEL

pytestmark = pytest.mark.e2e


@pytest.fixture
def place(kube):
    """A fresh namespace and GPU nodes (two A10, one T4) that only this test's pods select."""
    with gpu_nodes(kube) as placed:
        yield placed


def test_a_bind_is_answered_success_and_the_normal_path_posts_no_failed_scheduling(
    kube, extender, place
):
    """The API server answers a Binding with a Status, not a Binding: the extender must still
    answer the scheduler ``{"Error": ""}``, or the scheduler counts every bind as failed, posts
    FailedScheduling and tries the (already bound) pod again."""
    namespace, suffix, nodes = place
    extender.start()
    alone = gpu_pod("direct", HALF, {"e2e": suffix})
    alone.spec.schedulerName = "nobody"  # no scheduler takes it: bound by asking the extender
    uid = kube.create(alone, namespace=namespace).metadata.uid
    node = sorted(nodes)[0]
    binding = {"PodName": "direct", "PodNamespace": namespace, "PodUID": uid, "Node": node}
    assert extender.post("bind", binding) == {"Error": ""}
    direct = kube.get(Pod, "direct", namespace=namespace)
    assert direct.spec.nodeName == node and recorded_gpus(direct.to_dict()) is not None

    for i, gpu in enumerate([QUARTER, HALF, ONE, QUARTER, HALF]):
        kube.create(gpu_pod(f"p{i}", gpu, {"e2e": suffix}), namespace=namespace)
    wait_for("all pods bound", lambda: len(bound(kube, namespace)) == 6)
    time.sleep(2)  # the scheduler posts its events asynchronously
    assert failed_scheduling(kube, namespace) == []


def test_only_the_schedulers_client_certificate_is_answered(kube, extender, place):
    """Bind creates Bindings for any pod on any node: a caller without the scheduler's client
    certificate gets nothing, and the pod stays unbound."""
    namespace, suffix, nodes = place
    extender.start()
    alone = gpu_pod("direct", HALF, {"e2e": suffix})
    alone.spec.schedulerName = "nobody"
    uid = kube.create(alone, namespace=namespace).metadata.uid
    node = sorted(nodes)[0]
    binding = {"PodName": "direct", "PodNamespace": namespace, "PodUID": uid, "Node": node}
    with pytest.raises(OSError):  # no certificate: the handshake fails, the connection ends
        extender.post("bind", binding, identity=None)
    with pytest.raises(urllib.error.HTTPError) as refused:  # the cluster's CA, not the scheduler
        extender.post("bind", binding, identity="admin")
    assert refused.value.code == 403
    with pytest.raises((OSError, http.client.HTTPException)):  # no plain HTTP at all
        urllib.request.urlopen(f"http://127.0.0.1:{extender.port}/bind", data=b"{}", timeout=5)
    assert kube.get(Pod, "direct", namespace=namespace).spec.nodeName is None
    assert extender.metric("tidewise_extender_requests_total", verb="bind", outcome="ok") == 0


def test_twenty_gpu_share_pods_placed_through_a_restarted_extender(kube, extender, place):
    namespace, suffix, nodes = place
    extender.start()
    mix = [QUARTER] * 8 + [HALF] * 8 + [ONE] * 4  # 10 GPUs' worth on 12 GPUs
    pinned = {1, 2, 9, 10}  # two quarters and two halves must run on the T4
    for i, gpu in enumerate(mix):
        selector = {"e2e": suffix} | ({MODEL_LABEL: "Tesla-T4"} if i in pinned else {})
        kube.create(gpu_pod(f"p{i:02d}", gpu, selector), namespace=namespace)
        if i == 9:  # restart once the first pods are bound and the rest are on their way
            wait_for("the first pods bound", lambda: len(bound(kube, namespace)) >= 6)
            extender.kill()
            extender.start()
    # pods the scheduler tried while the extender was down are retried after their backoff (at
    # most 10 s) or at once when the restarted extender stamps them (requeue.py), never after
    # kube-scheduler's 5-minute flush of its unschedulable pool
    wait_for("all 20 pods bound", lambda: len(bound(kube, namespace)) == 20, deadline=120)

    pods = bound(kube, namespace)
    assert_no_gpu_over_committed(pods, nodes)
    assert all(p.metadata.annotations[GPU_INDEX] for p in pods)
    on_t4 = {p.metadata.name for p in pods if nodes[p.spec.nodeName] == "Tesla-T4"}
    assert {f"p{i:02d}" for i in pinned} <= on_t4


def test_unreachable_extender_leaves_pods_pending_with_a_clear_event(
    kube, extender, place, extender_port
):
    namespace, suffix, _ = place
    kube.create(gpu_pod("waiting", HALF, {"e2e": suffix}), namespace=namespace)

    def extender_events() -> list[str]:
        # before the extender is asked, the scheduler may report the new nodes' not-ready taint
        events = kube.list(Event, namespace=namespace, fields={"involvedObject.name": "waiting"})
        url = f"127.0.0.1:{extender_port}/filter"
        return [e.message for e in events if e.reason == "FailedScheduling" and url in e.message]

    wait_for("a FailedScheduling event naming the extender", lambda: bool(extender_events()))
    message = extender_events()[0]
    assert "connection refused" in message, message
    assert kube.get(Pod, "waiting", namespace=namespace).spec.nodeName is None

    extender.start()  # nothing was lost: the pod is placed as soon as the extender answers
    wait_for("the waiting pod bound", lambda: len(bound(kube, namespace)) == 1, deadline=60)
    assert recorded_gpus(bound(kube, namespace)[0].to_dict()) is not None
