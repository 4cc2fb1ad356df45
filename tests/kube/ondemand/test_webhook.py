"""The webhook's patch and reply, exactly: what a pod pinned to on-demand or spot carries,
whatever affinity it came with."""

import asyncio
import base64
import json

from tidewise.kube.ondemand.webhook import patch_for, pinned_affinity, reply, review
from tidewise.kube.ondemand.workloads import DELETION_COST, PINNED, CapacityLabel
from tidewise.model import PurchaseOption

KARPENTER = CapacityLabel()
EKS = CapacityLabel("eks.amazonaws.com/capacityType", ("ON_DEMAND",), ("SPOT",))
OD_TERM = {
    "key": "karpenter.sh/capacity-type",
    "operator": "In",
    "values": ["on-demand", "reserved"],
}
ZONE_TERM = {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]}


def test_a_pod_without_affinity_gets_one_required_term():
    affinity = pinned_affinity(None, KARPENTER, PurchaseOption.ON_DEMAND)
    required = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required == {"nodeSelectorTerms": [{"matchExpressions": [OD_TERM]}]}


def test_every_required_term_carries_the_capacity_type_and_keeps_its_own():
    """Required terms are ORed: each must carry the type, or one would escape it."""
    mine = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [ZONE_TERM]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]},
                ]
            }
        },
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
    }
    affinity = pinned_affinity(mine, KARPENTER, PurchaseOption.ON_DEMAND)
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms[0] == {"matchExpressions": [ZONE_TERM, OD_TERM]}
    assert terms[1]["matchExpressions"] == [OD_TERM] and "matchFields" in terms[1]
    assert affinity["podAntiAffinity"] == mine["podAntiAffinity"]
    assert mine["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0] == {"matchExpressions": [ZONE_TERM]}, "the pod's own dict is left alone"


def test_spot_is_required_or_only_preferred_and_other_autoscalers_labels_are_used():
    required = pinned_affinity(None, EKS, PurchaseOption.SPOT)
    terms = required["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    spot = {"key": "eks.amazonaws.com/capacityType", "operator": "In", "values": ["SPOT"]}
    assert terms == {"nodeSelectorTerms": [{"matchExpressions": [spot]}]}
    loose = CapacityLabel(spot_required=False)
    preferred = pinned_affinity(None, loose, PurchaseOption.SPOT)["nodeAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in preferred
    (term,) = preferred["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["weight"] == 100
    assert term["preference"]["matchExpressions"][0]["values"] == ["spot"]


def test_the_patch_writes_the_label_the_deletion_cost_and_the_affinity_whole():
    pod = {
        "metadata": {"labels": {"app": "web"}, "annotations": {"team": "a"}},
        "spec": {"containers": []},
    }
    patch = patch_for(pod, KARPENTER, PurchaseOption.ON_DEMAND)
    assert [op["op"] for op in patch] == ["add"] * 3
    by_path = {op["path"]: op["value"] for op in patch}
    assert by_path["/metadata/labels"] == {"app": "web", PINNED: "on-demand"}
    assert by_path["/metadata/annotations"] == {"team": "a", DELETION_COST: "1"}
    assert by_path["/spec/affinity"] == pinned_affinity(None, KARPENTER, PurchaseOption.ON_DEMAND)
    spot = {op["path"]: op["value"] for op in patch_for({}, KARPENTER, PurchaseOption.SPOT)}
    assert spot["/metadata/annotations"] == {DELETION_COST: "0"}


def test_the_reply_always_admits_and_carries_the_patch_in_base64():
    patch = [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]
    review = reply("u1", patch)
    assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
    response = review["response"]
    assert response["uid"] == "u1" and response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(response["patch"])) == patch
    bare = reply("u2", None, "tidewise.io/on-demand-base on ReplicaSet w: give a count")["response"]
    assert bare == {
        "uid": "u2",
        "allowed": True,
        "warnings": ["tidewise.io/on-demand-base on ReplicaSet w: give a count"],
    }


def review_of(operation: str, pod: dict) -> dict:
    request = {"uid": "u", "operation": operation, "namespace": "ns", "object": pod}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def test_pods_no_base_can_hold_are_admitted_untouched_without_reading_the_api():
    """Not a CREATE, or no ReplicaSet / StatefulSet controlling the pod: nothing to count,
    so the client (here none) is never asked."""
    job = {"kind": "Job", "name": "j", "uid": "v", "controller": True}
    rs = {"kind": "ReplicaSet", "name": "web-1", "uid": "u", "controller": True}
    cases = [
        review_of("CREATE", {"metadata": {"ownerReferences": [job]}}),
        review_of("CREATE", {"metadata": {}}),
        review_of("UPDATE", {"metadata": {"ownerReferences": [rs]}}),
    ]
    for case in cases:
        answer = asyncio.run(review(None, KARPENTER, case))  # type: ignore[arg-type]
        assert answer["response"] == {"uid": "u", "allowed": True}
