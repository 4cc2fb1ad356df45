import numpy as np

from tests.factories import CPU4, GPU1, node
from tidewise.model import Pod, PodPhase, Resources
from tidewise.placement.frag import ShapeMix
from tidewise.placement.gpu_policies import FgdPolicy
from tidewise.placement.scheduler import GpuShareScheduler, default_policy

SHARE = Resources(cpu_milli=1000, memory_mib=2048, gpu_milli=500, gpu_memory_mib=8192)


def pending(name, requests):
    return Pod(name, "w", requests, PodPhase.PENDING, 0.0)


def test_scheduler_binds_shares_together_and_keeps_cpu_pods_off_gpu_nodes():
    scheduler = GpuShareScheduler(lambda rank, seen: FgdPolicy(rank, ShapeMix.from_counts(seen)))
    nodes = [node(GPU1, "g1"), node(GPU1, "g2"), node(CPU4, "c")]
    pods = [pending("a", SHARE), pending("b", SHARE), pending("web", Resources(cpu_milli=500))]
    binds = scheduler.schedule(pods, nodes, np.random.default_rng(0))
    where = {b.pod: (b.node, b.gpu_indices) for b in binds}
    assert where["a"][0] == where["b"][0]  # the second half fills the first one's GPU
    assert where["web"] == ("c", ())
    assert sum(scheduler.seen.values()) == 3


def test_unplaceable_pods_are_left_pending():
    scheduler = GpuShareScheduler(lambda rank, seen: FgdPolicy(rank, ShapeMix.from_counts(seen)))
    huge = pending("big", Resources(cpu_milli=1000, gpu_count=2))
    assert scheduler.schedule([huge], [node(GPU1)], np.random.default_rng(0)) == []
    assert scheduler.schedule([huge], [], np.random.default_rng(0)) == []
    assert isinstance(ShapeMix.from_counts(scheduler.seen), ShapeMix)


def test_a_pod_that_waits_is_counted_once():
    scheduler = GpuShareScheduler(lambda rank, seen: FgdPolicy(rank, ShapeMix.from_counts(seen)))
    huge = pending("big", Resources(cpu_milli=1000, gpu_count=2))
    for _ in range(3):
        scheduler.schedule([huge], [node(GPU1)], np.random.default_rng(0))
    assert sum(scheduler.seen.values()) == 1


def test_default_policy_places_like_fgd_on_what_it_has_seen():
    scheduler = GpuShareScheduler(default_policy)
    nodes = [node(GPU1, "g1"), node(GPU1, "g2"), node(CPU4, "c")]
    pods = [pending("a", SHARE), pending("b", SHARE), pending("web", Resources(cpu_milli=500))]
    binds = {b.pod: b.node for b in scheduler.schedule(pods, nodes, np.random.default_rng(0))}
    assert binds["a"] == binds["b"] and binds["web"] == "c"
