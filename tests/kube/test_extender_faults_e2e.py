"""The GPU-share extender under faults, against the real control plane: killed between the GPU
annotations and the Binding, a watch ended by 410 Gone, a restart while pods wait, a node it
cannot read, and two replicas.

The extender runs as its own process (``tidewise extender serve``), reaching the API server
directly or through :class:`tests.kube.apiproxy.ApiProxy`, which holds Bindings, swallows
watch events or ends watches with 410 Gone. After each fault the test checks the contract
from outside: what the pods and Events in the API say, the extender's replies and its metrics
(books equal to the API, nothing over-committed, nothing leaked).
"""

import time

import pytest
from lightkube.resources.core_v1 import Event, Node, Pod

from tests.kube.apiproxy import ApiProxy
from tests.kube.gpushare import (
    GPUS_PER_NODE,
    QUARTER,
    Extender,
    assert_no_gpu_over_committed,
    books_equal_the_api,
    bound,
    failed_scheduling,
    gpu_nodes,
    gpu_pod,
)
from tests.kube.kwok import fake_node, wait_for
from tidewise.kube.api.annotations import recorded_gpus
from tidewise.kube.api.resources import GPU_COUNT, GPU_MEM, GPU_MEMORY_LABEL, MODEL_LABEL
from tidewise.kube.extender.binder import NOT_LEADER
from tidewise.kube.extender.leader import ROLE_LABEL
from tidewise.kube.extender.watch import SKIPPED_REASON
from tidewise.testenv.cluster import free_ports

pytestmark = pytest.mark.e2e

TWO = {GPU_COUNT: "2"}
ALL = {GPU_COUNT: str(GPUS_PER_NODE)}
PROMPTLY_S = 60  # well under kube-scheduler's 5-minute flush of its unschedulable pool


@pytest.fixture
def place(kube):
    with gpu_nodes(kube) as placed:
        yield placed


def on_t4(suffix: str) -> dict[str, str]:
    return {"e2e": suffix, MODEL_LABEL: "Tesla-T4"}


def pod_named(kube, namespace: str, name: str) -> Pod:
    return kube.get(Pod, name, namespace=namespace)


def placed(kube, namespace: str, *names: str) -> bool:
    return all(pod_named(kube, namespace, n).spec.nodeName for n in names)


def turned_away(kube, namespace: str, name: str, reason: str) -> bool:
    return any(
        m.startswith(f"{name}: ") and reason in m for m in failed_scheduling(kube, namespace)
    )


def stale_books_turn_a_pod_away(kube, proxy: ApiProxy, namespace: str, suffix: str) -> None:
    """Fill the T4 with ``x``, hide ``x``'s deletion from the extender, and have the scheduler
    ask for ``b`` (all four GPUs): the extender, its books stale, turns ``b`` away, and the
    scheduler parks ``b`` in its unschedulable pool, having seen ``x`` go already."""
    kube.create(gpu_pod("x", ALL, on_t4(suffix)), namespace=namespace)
    wait_for("x bound", lambda: placed(kube, namespace, "x"))
    proxy.swallow_events = True
    kube.delete(Pod, "x", namespace=namespace, grace_period=0)
    wait_for("x gone", lambda: not [p for p in kube.list(Pod, namespace=namespace)])
    kube.create(gpu_pod("b", ALL, on_t4(suffix)), namespace=namespace)
    wait_for(
        "b turned away by the stale books",
        lambda: turned_away(kube, namespace, "b", "fewer than 4 idle GPUs"),
    )


def test_killed_between_the_gpu_annotations_and_the_binding(
    kube, cluster, extender, place, tmp_path
):
    """Nothing over-committed, nothing leaked: the restarted extender does not count the
    annotations of a pod that was never bound, and every GPU of the T4 is placed exactly."""
    namespace, suffix, nodes = place
    with ApiProxy(cluster.server, cluster.folder / "pki") as proxy:
        proxy.hold_bindings = True
        extender.start(kubeconfig=proxy.kubeconfig(tmp_path))
        kube.create(gpu_pod("a", TWO, on_t4(suffix)), namespace=namespace)
        wait_for(
            "a annotated and its Binding held",
            lambda: proxy.held >= 1 and recorded_gpus(pod_named(kube, namespace, "a").to_dict()),
        )
        extender.kill()
    stale = recorded_gpus(pod_named(kube, namespace, "a").to_dict())
    assert stale is not None and pod_named(kube, namespace, "a").spec.nodeName is None

    extender.start()
    kube.create(gpu_pod("c", TWO, on_t4(suffix)), namespace=namespace)
    wait_for("a and c bound", lambda: placed(kube, namespace, "a", "c"), deadline=PROMPTLY_S)
    pods = bound(kube, namespace)
    assert_no_gpu_over_committed(pods, nodes)
    held = sorted(g for p in pods for g in recorded_gpus(p.to_dict()))
    assert held == [0, 1, 2, 3]  # the T4's four GPUs, each once
    wait_for("books equal the API", lambda: books_equal_the_api(kube, extender))

    kube.delete(Pod, "c", namespace=namespace, grace_period=0)  # its two GPUs come back
    kube.create(gpu_pod("d", TWO, on_t4(suffix)), namespace=namespace)
    wait_for("d bound on the GPUs c left", lambda: placed(kube, namespace, "d"))
    assert_no_gpu_over_committed(bound(kube, namespace), nodes)


def test_a_watch_ended_by_410_gone_lists_again_and_the_pod_it_turned_away_is_placed(
    kube, cluster, extender, place, tmp_path
):
    """The books were stale (events lost); 410 Gone makes the extender list again, its books
    then equal the API's, and the pod its stale books turned away is placed promptly: the
    extender stamps it, since kube-scheduler saw no event that would retry it."""
    namespace, suffix, nodes = place
    with ApiProxy(cluster.server, cluster.folder / "pki") as proxy:
        extender.start(kubeconfig=proxy.kubeconfig(tmp_path))
        stale_books_turn_a_pod_away(kube, proxy, namespace, suffix)
        assert not books_equal_the_api(kube, extender)  # x still held on the books
        proxy.swallow_events = False
        proxy.end_watches_with_gone()
        wait_for(
            "a listing after 410 Gone",
            lambda: extender.metric("tidewise_extender_relists_total", reason="gone") >= 1,
        )
        wait_for("books equal the API", lambda: books_equal_the_api(kube, extender))
        wait_for("b bound", lambda: placed(kube, namespace, "b"), deadline=PROMPTLY_S)
    assert extender.metric("tidewise_extender_requeued_pods_total") >= 1
    assert_no_gpu_over_committed(bound(kube, namespace), nodes)


def test_a_pod_parked_before_a_restart_is_placed_promptly_after_it(
    kube, cluster, extender, place, tmp_path
):
    """``b`` was turned away before the crash and sits in kube-scheduler's unschedulable pool;
    nothing in the cluster changes while the extender is away (no event would retry ``b``),
    so only the extender's stamp on its return makes the scheduler try ``b`` before its
    5-minute flush. (Pods tried while no extender answered fail on an error and are retried
    after a backoff of at most 10 s: test_extender_e2e.py.)"""
    namespace, suffix, nodes = place
    with ApiProxy(cluster.server, cluster.folder / "pki") as proxy:
        extender.start(kubeconfig=proxy.kubeconfig(tmp_path))
        stale_books_turn_a_pod_away(kube, proxy, namespace, suffix)
        extender.kill()
    returned = time.monotonic()
    extender.start()
    wait_for("b bound", lambda: placed(kube, namespace, "b"), deadline=PROMPTLY_S)
    assert time.monotonic() - returned < PROMPTLY_S
    assert extender.metric("tidewise_extender_requeued_pods_total") >= 1
    assert_no_gpu_over_committed(bound(kube, namespace), nodes)


def unreadable_node(name: str, label: str | None = None, count: str | None = None) -> Node:
    gpus = count or str(GPUS_PER_NODE)
    node = fake_node(name, {GPU_COUNT: gpus, GPU_MEM: "64"}, {"e2e": "unreadable"})
    if label:
        node.metadata.labels[GPU_MEMORY_LABEL] = label
    return node


def skipped_events(kube, name: str) -> list[Event]:
    events = kube.list(Event, namespace="default", fields={"involvedObject.name": name})
    return [e for e in events if e.reason == SKIPPED_REASON]


def test_a_node_it_cannot_read_is_skipped_with_an_event_and_the_others_are_served(
    kube, extender, place
):
    namespace, suffix, _ = place
    listed, watched = f"bad-label-{suffix}", f"huge-{suffix}"
    kube.create(unreadable_node(listed, label="lots"))
    try:
        extender.start()  # the first listing meets one unreadable node
        kube.create(unreadable_node(watched, count="1e300000"))  # the watch meets the other
        for name in (listed, watched):
            wait_for(f"the event on {name}", lambda name=name: bool(skipped_events(kube, name)))
        wait_for("both skipped", lambda: extender.metric("tidewise_extender_skipped_nodes") == 2)
        [event] = skipped_events(kube, watched)
        assert event.type == "Warning" and "1e300000" in event.message
        assert event.involvedObject.uid == kube.get(Node, watched).metadata.uid

        for i, gpu in enumerate([QUARTER, TWO, QUARTER]):
            kube.create(gpu_pod(f"p{i}", gpu, {"e2e": suffix}), namespace=namespace)
        wait_for("the pods bound", lambda: len(bound(kube, namespace)) == 3)
        assert failed_scheduling(kube, namespace) == []
        wait_for("books equal the API", lambda: books_equal_the_api(kube, extender))
    finally:
        for name in (listed, watched):
            kube.delete(Node, name)
    wait_for("none skipped", lambda: extender.metric("tidewise_extender_skipped_nodes") == 0)


def test_two_replicas_only_the_lease_holder_binds_and_the_standby_takes_over(
    kube, cluster, extender, place
):
    namespace, suffix, nodes = place
    for name in ("replica-a", "replica-b"):  # stand-ins for the extender's own pods
        stand_in = gpu_pod(name, {}, {"e2e": suffix})
        stand_in.spec.schedulerName = "nobody"
        kube.create(stand_in, namespace=namespace)
    port = free_ports(("extender-b",))["extender-b"]
    standby = Extender(
        cluster.kubeconfig, port, cluster.folder / "logs/extender-b.log", extender.pki
    )

    def election(identity: str) -> tuple[str, ...]:
        return (
            "--lease-namespace",
            namespace,
            "--lease-duration",
            "3",
            "--identity",
            identity,
            "--pod-name",
            f"replica-{identity}",
            "--pod-namespace",
            namespace,
        )

    def role(name: str) -> str | None:
        return (pod_named(kube, namespace, name).metadata.labels or {}).get(ROLE_LABEL)

    try:
        extender.start(options=election("a"))
        wait_for("a leads", lambda: role("replica-a") == "leader")
        standby.start(options=election("b"))
        wait_for("b stands by", lambda: role("replica-b") == "standby")
        assert extender.metric("tidewise_extender_leader") == 1
        assert standby.metric("tidewise_extender_leader") == 0

        alone = gpu_pod("direct", TWO, on_t4(suffix))
        alone.spec.schedulerName = "nobody"
        uid = kube.create(alone, namespace=namespace).metadata.uid
        node = next(n for n, model in nodes.items() if model == "Tesla-T4")
        binding = {"PodName": "direct", "PodNamespace": namespace, "PodUID": uid, "Node": node}
        assert standby.post("bind", binding) == {"Error": NOT_LEADER}
        untouched = pod_named(kube, namespace, "direct")
        assert untouched.spec.nodeName is None and recorded_gpus(untouched.to_dict()) is None

        kube.create(gpu_pod("p", TWO, {"e2e": suffix}), namespace=namespace)  # via the leader
        wait_for("p bound", lambda: placed(kube, namespace, "p"))

        extender.kill()  # no release: b waits out the Lease
        wait_for("b takes over", lambda: role("replica-b") == "leader", deadline=30)
        assert standby.metric("tidewise_extender_leader") == 1
        assert standby.post("bind", binding) == {"Error": ""}
        assert pod_named(kube, namespace, "direct").spec.nodeName == node
        assert_no_gpu_over_committed(bound(kube, namespace), nodes)
    finally:
        standby.kill()
