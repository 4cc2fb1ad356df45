"""A replica read from its pod, a base read from its owner, a node's capacity type read from
its labels."""

import pytest

from tidewise.kube.ondemand.workloads import (
    OBSERVED,
    PINNED,
    CapacityLabel,
    Workload,
    controller_of,
    replica,
)
from tidewise.model import CapacityRules, PurchaseOption


def pod(labels=None, annotations=None, **meta):
    return {
        "metadata": {
            "name": "p",
            "labels": labels or {},
            "annotations": annotations or {},
            "creationTimestamp": "2026-12-02T10:00:00Z",
            **meta,
        }
    }


def test_a_replica_is_what_its_label_says_and_going_once_deleted():
    got = replica(pod({PINNED: "on-demand"}))
    assert got.capacity is PurchaseOption.ON_DEMAND and got.pinned and not got.going
    assert got.created == 1796205600.0
    going = replica(pod({PINNED: "spot"}, deletionTimestamp="2026-12-02T10:01:00Z"))
    assert going.capacity is PurchaseOption.SPOT and going.going
    observed = replica(pod({PINNED: "spot"}, {OBSERVED: "node-1"}))
    assert not observed.pinned
    assert replica(pod({PINNED: "nonsense"})).capacity is None
    assert replica(pod()).capacity is None


def test_only_a_replicaset_or_statefulset_controller_holds_a_base():
    rs = {"kind": "ReplicaSet", "name": "web-1", "uid": "u", "controller": True}
    job = {"kind": "Job", "name": "j", "uid": "v", "controller": True}
    assert controller_of(pod(ownerReferences=[job, rs])) == rs
    assert controller_of(pod(ownerReferences=[{**rs, "controller": False}])) is None
    assert controller_of(pod()) is None


def workload(base):
    told = {"kind": "Deployment", "name": "web", "uid": "d"}
    return Workload("ReplicaSet", "web-1", "ns", "u", {"app": "web"}, 10, base, told)


def test_the_base_annotation_reads_as_the_twin_s_rules_and_a_bad_one_names_itself():
    assert workload("3").rules() == CapacityRules(on_demand_base=3)
    assert workload("30%").rules().base(10) == 3
    assert workload(None).rules() == CapacityRules()
    with pytest.raises(ValueError, match=r"^tidewise.io/on-demand-base on ReplicaSet web-1: give"):
        workload("three").rules()


def test_a_node_s_capacity_type_by_karpenter_s_label_or_another_autoscaler_s():
    karpenter = CapacityLabel()
    assert karpenter.of_node({"karpenter.sh/capacity-type": "reserved"}) is PurchaseOption.ON_DEMAND
    assert karpenter.of_node({"karpenter.sh/capacity-type": "spot"}) is PurchaseOption.SPOT
    assert karpenter.of_node({}) is None
    eks = CapacityLabel("eks.amazonaws.com/capacityType", ("ON_DEMAND",), ("SPOT",))
    assert eks.of_node({"eks.amazonaws.com/capacityType": "SPOT"}) is PurchaseOption.SPOT
