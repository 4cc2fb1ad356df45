from tests.factories import CPU4, GPU1, node
from tidewise.model import Resources
from tidewise.placement import choose_gpus, fit_on, pods_per_node, tolerates, with_pod

SHARE = Resources(cpu_milli=1000, memory_mib=4096, gpu_milli=500, gpu_memory_mib=10240)


def test_cpu_pods_stay_off_gpu_nodes_and_gpu_pods_need_them():
    assert tolerates(CPU4.capacity, Resources(cpu_milli=100))
    assert not tolerates(GPU1.capacity, Resources(cpu_milli=100))
    assert not tolerates(CPU4.capacity, SHARE)
    assert tolerates(GPU1.capacity, SHARE)


def test_gpu_model_restriction_accepts_any_listed_model():
    assert tolerates(GPU1.capacity, Resources(gpu_milli=100, gpu_model="V100|A10G"))
    assert not tolerates(GPU1.capacity, Resources(gpu_milli=100, gpu_model="V100"))


def test_share_goes_to_the_fullest_gpu_that_fits():
    assert choose_gpus(SHARE, [1000, 600, 400], [24576, 24576, 24576], 24576) == (1,)
    assert choose_gpus(SHARE, [1000, 600], [24576, 8000], 24576) == (0,)
    assert choose_gpus(SHARE, [400], [24576], 24576) is None


def test_whole_gpus_take_idle_ones_lowest_first():
    two = Resources(gpu_count=2)
    assert choose_gpus(two, [1000, 500, 1000, 1000], [1, 1, 1, 1], 1) == (0, 2)
    assert choose_gpus(two, [1000, 500], [1, 1], 1) is None


def test_pods_per_node_takes_the_tightest_resource():
    assert pods_per_node(CPU4.capacity, Resources(cpu_milli=1000, memory_mib=2048)) == 4
    assert pods_per_node(CPU4.capacity, Resources(cpu_milli=500, memory_mib=8192)) == 2
    # two halves of one GPU by share; memory allows two of 10 GiB on 24 GiB
    assert pods_per_node(GPU1.capacity, SHARE) == 2
    assert pods_per_node(GPU1.capacity, Resources(gpu_count=2)) == 0


def test_bind_then_release_restores_the_node():
    n = node(GPU1)
    gpus = fit_on(n, SHARE)
    assert gpus == (0,)
    bound = with_pod(n, SHARE, gpus)
    assert bound.gpu_free_milli == (500,) and bound.free_cpu_milli == 3000
    assert bound.pod_count == 1
    assert with_pod(bound, SHARE, gpus, -1) == n


def test_a_gpu_holding_a_memory_sized_share_is_not_idle():
    # a share sized by GPU memory alone (aliyun.com/gpu-mem) takes no milli: still not idle
    assert choose_gpus(Resources(gpu_count=1), [1000, 1000], [20480, 24576], 24576) == (1,)
    assert choose_gpus(Resources(gpu_count=2), [1000, 1000], [20480, 24576], 24576) is None
