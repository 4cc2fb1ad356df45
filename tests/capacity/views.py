"""Hand-built cluster views for the capacity policies' tests."""

from collections.abc import Sequence

from tidewise.model import (
    CapacityRules,
    ClusterView,
    Node,
    Offering,
    Pod,
    PodPhase,
    Resources,
    WorkloadSpec,
    WorkloadStatus,
)
from tidewise.placement import fit_on, with_pod

WEB = Resources(cpu_milli=1000, memory_mib=2048)


def spec(name: str = "web", rules: CapacityRules | None = None) -> WorkloadSpec:
    return WorkloadSpec(name, WEB, 10.0, 20.0, 1, 100, 0.7, rules or CapacityRules())


def status(workload: WorkloadSpec, desired: int, ready: int) -> WorkloadStatus:
    return WorkloadStatus(workload, desired, ready, 0, desired - ready, 0.0)


def place(nodes: list[Node], pods: list[Pod]) -> tuple[list[Node], list[Pod]]:
    """Bind each pod that names a node onto it (allocations kept exact)."""
    by_name = {n.name: n for n in nodes}
    for pod in pods:
        if pod.node is not None:
            node = by_name[pod.node]
            gpus = fit_on(node, pod.requests, cpu_pods_on_gpu_nodes=False)
            assert gpus is not None, f"{pod.name} does not fit {node.name}"
            by_name[pod.node] = with_pod(node, pod.requests, gpus)
    return [by_name[n.name] for n in nodes], pods


def running(name: str, node: str, workload: str = "web") -> Pod:
    return Pod(name, workload, WEB, PodPhase.RUNNING, 0.0, node)


def view(
    t: float,
    nodes: Sequence[Node],
    pods: Sequence[Pod],
    offerings: Sequence[Offering],
    workloads: Sequence[WorkloadStatus] = (),
) -> ClusterView:
    placed, _ = place(list(nodes), list(pods))
    return ClusterView(t, tuple(placed), tuple(pods), tuple(workloads), tuple(offerings))
