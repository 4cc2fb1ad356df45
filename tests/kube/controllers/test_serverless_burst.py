"""The serverless-burst controller's reading of taints, tolerations and selectors (the
decisions are tidewise.capacity.virtual_node's; the API end: test_serverless_burst_e2e.py)."""

from tidewise.kube.controllers.serverless_burst import TOLERATION, may_run_on, tolerates

VIRTUAL_TAINT = {"key": "virtual-kubelet.io/provider", "value": "eci", "effect": "NoSchedule"}
VIRTUAL = {
    "metadata": {"name": "vk", "labels": {"type": "virtual-kubelet"}},
    "spec": {"taints": [VIRTUAL_TAINT]},
}


def test_the_added_toleration_tolerates_any_providers_virtual_taint():
    assert tolerates([TOLERATION], VIRTUAL_TAINT)
    assert tolerates([TOLERATION], {**VIRTUAL_TAINT, "effect": "NoExecute", "value": "aws"})
    assert not tolerates([TOLERATION], {"key": "other", "effect": "NoSchedule"})


def test_kubernetes_toleration_rules():
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert tolerates([{"key": "k", "operator": "Equal", "value": "v"}], taint)
    assert not tolerates([{"key": "k", "operator": "Equal", "value": "w"}], taint)
    assert not tolerates([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)  # an empty key with Exists: every taint
    assert not tolerates([], taint)


def test_a_pod_may_run_on_a_node_its_selector_matches_and_whose_taints_it_tolerates():
    pod = {"spec": {"nodeSelector": {"type": "virtual-kubelet"}, "tolerations": [TOLERATION]}}
    assert may_run_on(pod, VIRTUAL)
    assert not may_run_on({"spec": {"nodeSelector": {"type": "virtual-kubelet"}}}, VIRTUAL)
    assert not may_run_on({"spec": {"nodeSelector": {"pool": "a"}}}, {"metadata": {}})
    soft = {"metadata": {}, "spec": {"taints": [{"key": "x", "effect": "PreferNoSchedule"}]}}
    assert may_run_on({"spec": {}}, soft)
