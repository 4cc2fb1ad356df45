"""The HPA baselines: Kubernetes' arithmetic on GPU utilisation and on KEDA's queue metric."""

from tidewise.scaling.serving.metric_hpas import GpuUtilizationHpa, KedaQueueScaler


def test_gpu_utilisation_above_target_scales_by_the_ratio(obs):
    hpa = GpuUtilizationHpa(target_percent=50)
    # mean utilisation 83 % against 50 %: ceil(3 x 83.3 / 50) = 5 (within the legacy
    # scale-up limit of max(2 x 3, 4))
    decision = hpa.recommend(obs(replicas=3, pod_busy=[1.0, 1.0, 0.5]))
    assert decision.replicas == 5


def test_starting_pods_count_as_idle_when_scaling_up(obs):
    hpa = GpuUtilizationHpa(target_percent=50)
    # two Ready pods at 100 %, one starting without a metric: counted at 0 % on scale-up,
    # (100 + 100 + 0) / 3 = 66.7 % -> ceil(3 x 66.7 / 50) = 4
    decision = hpa.recommend(obs(replicas=3, ready=2, starting=1, pod_busy=[1.0, 1.0]))
    assert decision.replicas == 4


def test_a_busy_gpu_is_saturated_at_100_percent(obs):
    # within the 10 % tolerance of a 95 % target nothing moves, however long the queue
    hpa = GpuUtilizationHpa(target_percent=95)
    decision = hpa.recommend(obs(replicas=2, pod_busy=[1.0, 1.0], waiting=500))
    assert decision.replicas == 2


def test_scale_down_waits_for_the_five_minute_stabilisation(obs):
    hpa = GpuUtilizationHpa(target_percent=80)
    assert hpa.recommend(obs(now=0.0, replicas=4, pod_busy=[1.0] * 4)).replicas == 5
    assert hpa.recommend(obs(now=15.0, replicas=5, pod_busy=[0.1] * 5)).replicas == 5
    assert hpa.recommend(obs(now=301.0, replicas=5, pod_busy=[0.1] * 5)).replicas == 1


def test_keda_desired_is_waiting_over_threshold(obs):
    keda = KedaQueueScaler(threshold=5)
    # 23 waiting on 3 replicas, 5 a replica: ceil(23 / 5) = 5
    assert keda.recommend(obs(now=0.0, replicas=3, waiting=23)).replicas == 5
    # from 2 replicas the HPA's legacy scale-up limit, max(2 x 2, 4), holds it to 4
    keda = KedaQueueScaler(threshold=5)
    assert keda.recommend(obs(now=0.0, replicas=2, waiting=23)).replicas == 4


def test_keda_inside_the_tolerance_keeps_the_count(obs):
    keda = KedaQueueScaler(threshold=5)
    # 10 waiting on 2 replicas is exactly 5 each: ratio 1.0
    assert keda.recommend(obs(now=0.0, replicas=2, waiting=10)).replicas == 2


def test_keda_activates_from_zero_and_cools_down_to_zero(obs):
    keda = KedaQueueScaler(threshold=5)
    first = keda.recommend(obs(now=0.0, replicas=0, ready=0, waiting=1))
    assert (first.replicas, first.rule) == (1, "activate")
    # inactive (nothing waiting) but inside the 300 s cooldown: the HPA keeps its minimum 1
    assert keda.recommend(obs(now=30.0, replicas=1, waiting=0)).replicas == 1
    assert keda.recommend(obs(now=270.0, replicas=1, waiting=0)).replicas == 1
    # the poll at 300 s: last active at 0 s, cooldown over
    late = keda.recommend(obs(now=300.0, replicas=1, waiting=0))
    assert (late.replicas, late.rule) == (0, "cooldown")


def test_keda_with_a_minimum_never_goes_to_zero(obs):
    keda = KedaQueueScaler(threshold=5, min_replica_count=1)
    assert keda.recommend(obs(now=0.0, replicas=1)).replicas == 1
    assert keda.recommend(obs(now=900.0, replicas=1)).replicas == 1
