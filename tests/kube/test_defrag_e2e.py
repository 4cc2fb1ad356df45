"""The defragmenter on the real control plane: a whole-GPU Job that fits nowhere among
GPU-share pods on three kwok GPU nodes makes it reserve the GPU it frees and evict the one
share pod it must, through the Eviction API and within the PodDisruptionBudgets; the
ReplicaSet recreates the pod, the scheduler and the extender place it elsewhere and the
Job's pod on the freed GPU, and the reservation is released once the Job's pod is bound.
The defragmenter runs as the shipped ServiceAccount with the shipped RBAC. Beside it, the
extender's side of the reservation alone: GPUs held for another pod are refused to a pod
that would fit only there, and given to it once the hold names it."""

import asyncio
import threading
import time

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.models.apps_v1 import ReplicaSetSpec
from lightkube.models.batch_v1 import JobSpec
from lightkube.models.core_v1 import PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.models.policy_v1 import PodDisruptionBudgetSpec
from lightkube.resources.apps_v1 import ReplicaSet
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Node, Pod
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType
from prometheus_client import CollectorRegistry

from tests.kube.gpushare import (
    GIB,
    HALF,
    ONE,
    assert_no_gpu_over_committed,
    bound,
    failed_scheduling,
    gpu_nodes,
    gpu_pod,
)
from tests.kube.kwok import condition, fake_pod_spec, wait_for
from tests.kube.serviceaccount import operator_kubeconfig
from tidewise.kube.api.annotations import gpu_annotations, recorded_gpus
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.api.reservation import (
    RESERVATION,
    GpuReservation,
    reservation_of,
    reservation_patch,
)
from tidewise.kube.api.resources import pod_request
from tidewise.kube.controllers.defrag import DefragController

pytestmark = pytest.mark.e2e


def placed(name: str, gpu: dict[str, str], labels: dict[str, str], node: str, gpus, model: str):
    """A pod already bound to ``node``'s ``gpus``, annotated as the extender binds: the
    layout the test starts from, exact."""
    pod = gpu_pod(name, gpu, {})
    pod.metadata.labels = labels
    request = pod_request(pod.to_dict())
    pod.metadata.annotations = gpu_annotations(request, gpus, GIB[model] * 1024, time.time_ns())
    pod.spec.nodeName = node
    return pod


def replica_set(app: str, replicas: int, selector: dict[str, str]) -> ReplicaSet:
    """``app``'s ReplicaSet of HALF-GPU pods: it adopts the placed pods with its label and
    recreates any that is evicted (that new pod goes through the scheduler and extender)."""
    labels = {"app": app}
    spec = fake_pod_spec({"cpu": "500m", "memory": "1Gi", **HALF}, selector)
    template = PodTemplateSpec(metadata=ObjectMeta(labels=labels), spec=spec)
    return ReplicaSet(
        metadata=ObjectMeta(name=app),
        spec=ReplicaSetSpec(
            replicas=replicas, selector=LabelSelector(matchLabels=labels), template=template
        ),
    )


def budget(app: str, max_unavailable: int) -> PodDisruptionBudget:
    spec = PodDisruptionBudgetSpec(
        maxUnavailable=max_unavailable, selector=LabelSelector(matchLabels={"app": app})
    )
    return PodDisruptionBudget(metadata=ObjectMeta(name=app), spec=spec)


def reasons(kube, namespace: str, reason: str) -> list[Event]:
    return [e for e in kube.list(Event, namespace=namespace) if e.reason == reason]


def test_a_whole_gpu_job_gets_a_gpu_by_moving_one_share_pod_within_the_budgets(
    kube, cluster, extender
):
    with gpu_nodes(kube) as (namespace, suffix, nodes):
        a10, spare, t4 = sorted(nodes)  # a10-0, a10-1, t4
        # a10-0: a HALF share on each GPU, two of "web" (budget: none may go) and two of
        # "batch" (budget: one may go); every GPU of a10-1 and t4 held whole (never moved)
        layout = [("web-0", "web", 0), ("web-1", "web", 1)]
        layout += [("batch-0", "batch", 2), ("batch-1", "batch", 3)]
        layout_gpus = [(name, gpu) for name, _, gpu in layout]
        for name, app, gpu in layout:
            pod = placed(name, HALF, {"app": app}, a10, (gpu,), "A10")
            kube.create(pod, namespace=namespace)
        for i, node in enumerate((spare, t4)):
            for gpu in range(4):
                pod = placed(f"whole-{i}-{gpu}", ONE, {}, node, (gpu,), nodes[node])
                kube.create(pod, namespace=namespace)
        wait_for("12 placed pods running", lambda: len(running(kube, namespace)) == 12)
        selector = {"e2e": suffix}
        for app in ("web", "batch"):
            kube.create(replica_set(app, 2, selector), namespace=namespace)
        wait_for("the ReplicaSets to adopt their pods", lambda: adopted(kube, namespace) == 4)
        for app, allowed in (("web", 0), ("batch", 1)):
            kube.create(budget(app, allowed), namespace=namespace)
        wait_for(
            "the budgets' allowances",
            lambda: (
                [
                    kube.get(PodDisruptionBudget, a, namespace=namespace).status.disruptionsAllowed
                    for a in ("web", "batch")
                ]
                == [0, 1]
            ),
        )
        before = {p.metadata.name: p.metadata.uid for p in kube.list(Pod, namespace=namespace)}
        extender.start()
        spec = fake_pod_spec({"cpu": "2", "memory": "4Gi", **ONE}, selector)
        spec.restartPolicy = "Never"
        template = PodTemplateSpec(metadata=ObjectMeta(labels={"job": "train"}), spec=spec)
        job = Job(metadata=ObjectMeta(name="train"), spec=JobSpec(template=template))
        kube.create(job, namespace=namespace)
        wait_for(
            "the job's pod marked unschedulable",
            lambda: bool(reasons(kube, namespace, "FailedScheduling")),
        )
        account = operator_kubeconfig(cluster, kube, namespace, ["defrag"])
        with defragmenter(account) as passes:
            try:
                wait_for("the job's pod to run", lambda: job_pod_ran(kube, namespace), 180)
                wait_for("four share pods bound again", lambda: shares_bound(kube, namespace))
                wait_for(
                    "the reservation released",
                    lambda: reservation_of(kube.get(Node, a10).to_dict()) is None,
                )
                time.sleep(3)  # a second plan, were one wrongly made, would show by now
            finally:
                print("defragmenter errors:", passes.errors)
                for e in kube.list(Event, namespace=namespace):
                    print("event", e.involvedObject.name, e.reason, e.message)
                for p in kube.list(Pod, namespace=namespace):
                    gpus = recorded_gpus(p.to_dict())
                    print("pod", p.metadata.name, p.spec.nodeName, gpus, p.status.phase)
        assert passes.errors == []
        # the contract: what was said, where
        told = reasons(kube, namespace, "Defragmenting")
        assert [e.involvedObject.name for e in told] == [job_pod(kube, namespace).metadata.name]
        assert a10 in told[0].message and "batch-" in told[0].message
        moved = reasons(kube, namespace, "EvictedForDefragmentation")
        assert len(moved) == 1, [e.involvedObject.name for e in moved]
        assert moved[0].involvedObject.name in {"batch-0", "batch-1"}
        assert moved[0].source.component == "tidewise-operator"
        assert not reasons(kube, namespace, "DefragmentationBlocked")
        # one pod moved, no other: the web pods (budget 0) and the whole-GPU pods stayed
        after = {p.metadata.name: p.metadata.uid for p in kube.list(Pod, namespace=namespace)}
        gone = {name for name, uid in before.items() if after.get(name) != uid}
        assert gone == {moved[0].involvedObject.name}
        train = job_pod(kube, namespace)
        assert train.spec.nodeName == a10
        assert_no_gpu_over_committed(bound(kube, namespace), nodes)
        # the GPU freed was held for the job's pod, which got it; the recreated pod went
        # elsewhere; the hold was released once the job's pod was bound
        freed = dict(layout_gpus)[moved[0].involvedObject.name]
        (reserved,) = reasons(kube, namespace, "GpusReserved")
        assert reserved.involvedObject.name == train.metadata.name
        assert f"GPUs [{freed}] on node {a10}" in reserved.message
        assert recorded_gpus(train.to_dict()) == (freed,)
        recreated = [
            p
            for p in kube.list(Pod, namespace=namespace, labels={"app": "batch"})
            if p.metadata.name not in before
        ]
        assert len(recreated) == 1 and recreated[0].spec.nodeName
        assert (recreated[0].spec.nodeName, recorded_gpus(recreated[0].to_dict())) != (
            a10,
            (freed,),
        )
        (released,) = reasons(kube, namespace, "GpuReservationReleased")
        assert released.involvedObject.name == train.metadata.name
        assert released.message.endswith(f"bound to node {a10}")


def test_the_extender_keeps_reserved_gpus_for_the_pod_they_are_held_for(kube, extender):
    with gpu_nodes(kube) as (namespace, suffix, nodes):
        a10, spare, t4 = sorted(nodes)
        for i, node in enumerate((spare, t4)):  # every GPU but a10-0's held whole
            for gpu in range(4):
                pod = placed(f"whole-{i}-{gpu}", ONE, {}, node, (gpu,), nodes[node])
                kube.create(pod, namespace=namespace)
        held = GpuReservation("other/job", "uid-of-another-pod", (0, 1, 2, 3), time.time() + 600)
        kube.patch(Node, a10, reservation_patch(held), patch_type=PatchType.MERGE)
        extender.start()
        share = kube.create(gpu_pod("share", HALF, {"e2e": suffix}), namespace=namespace)
        wait_for(
            "the share refused the held GPUs",
            lambda: any(m.startswith("share:") for m in failed_scheduling(kube, namespace)),
        )
        time.sleep(3)
        assert not kube.get(Pod, "share", namespace=namespace).spec.nodeName
        # held for it instead: it binds there
        mine = GpuReservation(f"{namespace}/share", share.metadata.uid, (0, 1, 2, 3), held.until)
        kube.patch(Node, a10, reservation_patch(mine), patch_type=PatchType.MERGE)
        wait_for(
            "the share bound on the GPUs held for it",
            lambda: kube.get(Pod, "share", namespace=namespace).spec.nodeName == a10,
            60,
        )
        assert_no_gpu_over_committed(bound(kube, namespace), nodes)
        kube.patch(Node, a10, reservation_patch(None), patch_type=PatchType.MERGE)
        assert RESERVATION not in (kube.get(Node, a10).metadata.annotations or {})


def running(kube, namespace: str) -> list[Pod]:
    return [p for p in kube.list(Pod, namespace=namespace) if condition(p, "Ready")]


def job_pod(kube, namespace: str) -> Pod:
    (pod,) = kube.list(Pod, namespace=namespace, labels={"job": "train"})
    return pod


def job_pod_ran(kube, namespace: str) -> bool:
    """Bound and started (kwok runs a Job's pod to completion at once)."""
    pods = list(kube.list(Pod, namespace=namespace, labels={"job": "train"}))
    return len(pods) == 1 and pods[0].status.phase in ("Running", "Succeeded")


def adopted(kube, namespace: str) -> int:
    return sum(bool(p.metadata.ownerReferences) for p in kube.list(Pod, namespace=namespace))


def shares_bound(kube, namespace: str) -> bool:
    shares = [
        p
        for p in kube.list(Pod, namespace=namespace)
        if (p.metadata.labels or {}).get("app") in ("web", "batch")
        and not p.metadata.deletionTimestamp
    ]
    return len(shares) == 4 and all(p.spec.nodeName and condition(p, "Ready") for p in shares)


class defragmenter:
    """The controller's passes, one a second, on an event loop in a thread (as the operator
    drives it while leading)."""

    def __init__(self, kubeconfig) -> None:
        self.kubeconfig = kubeconfig
        self.loop = asyncio.new_event_loop()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[str] = []

    def _run(self) -> None:
        self.loop.run_until_complete(self._passes())

    async def _passes(self) -> None:
        client = AsyncClient(KubeConfig.from_file(self.kubeconfig), field_manager="e2e-defrag")
        controller = DefragController(client, ControllerMetrics(CollectorRegistry()), 1.0)
        while not self.stop.is_set():
            try:
                wait = await controller.sync()
            except Exception as error:  # kept, and asserted none, at the end
                self.errors.append(repr(error))
                wait = 1.0
            await asyncio.sleep(wait)
        await client.close()

    def __enter__(self) -> "defragmenter":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
