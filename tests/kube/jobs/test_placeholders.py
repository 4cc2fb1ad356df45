"""Placeholder pods of a gang's shape, the room Karpenter's NodePools leave, and what the
queue reads back: placeholders hold nothing, Fluid's labels say where a dataset is cached."""

from tests.kube.jobs.test_observe import job, node, plan
from tidewise.kube.jobs.observe import PLACEHOLDER_LABEL, snapshot
from tidewise.kube.jobs.placeholders import (
    NOT_SPOT,
    PRIORITY_CLASS,
    REQUIRED,
    off_spot,
    placeholder_pods,
    pool_room,
)
from tidewise.model import JobSpec, Resources
from tidewise.queue.manifests import render


def pool(name, limits, model=None):
    labels = {"nvidia.com/gpu.product": model} if model else {}
    return {
        "metadata": {"name": name},
        "spec": {"template": {"metadata": {"labels": labels}}, "limits": limits},
    }


def karpenter_node(name, pool_name, gpus):
    body = node(name, gpus)
    body["metadata"]["labels"]["karpenter.sh/nodepool"] = pool_name
    return body


def test_room_is_each_gpu_limit_less_the_gpus_of_the_pool_s_nodes_by_model():
    pools = [
        pool("a100", {"nvidia.com/gpu": "16"}, "A100"),
        pool("any", {"nvidia.com/gpu": 8, "cpu": "100"}),
        pool("cpu", {"cpu": "1000"}),  # no GPU limit: not counted
        pool("full", {"nvidia.com/gpu": "4"}, "T4"),
    ]
    nodes = [
        karpenter_node("n1", "a100", 8),
        karpenter_node("n2", "full", 8),  # over its limit: no room, never negative
        node("static", 8),  # not Karpenter's
    ]
    assert pool_room(pools, nodes) == {"A100": 8, "": 8, "T4": 0}


def running_job(uid="u-1", **extra):
    spec = JobSpec("train", Resources(4000, 16384, gpu_count=4), image="img", **extra)
    body = render(spec, "team")
    body["metadata"]["uid"] = uid
    body["spec"]["template"]["spec"]["nodeSelector"] = {"tidewise.io/node-pool": "gpu"}
    body["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    return body


def test_a_placeholder_has_the_worker_s_requests_and_placement_rules_and_lowest_priority():
    body = running_job(dataset="imagenet")
    (pod,) = placeholder_pods(body)
    template = body["spec"]["template"]["spec"]
    assert pod["metadata"]["name"] == "train-placeholder-0"
    assert pod["metadata"]["namespace"] == "team"
    assert pod["metadata"]["labels"] == {PLACEHOLDER_LABEL: "train"}
    assert pod["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "train", "uid": "u-1"}
    ]
    spec = pod["spec"]
    assert spec["priorityClassName"] == PRIORITY_CLASS
    assert [c["resources"] for c in spec["containers"]] == [
        c["resources"] for c in template["containers"]
    ]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    for key in ("nodeSelector", "tolerations"):
        assert spec[key] == template[key]
    preferred = "preferredDuringSchedulingIgnoredDuringExecution"  # the dataset's nodes
    assert (
        spec["affinity"]["nodeAffinity"][preferred]
        == template["affinity"]["nodeAffinity"][preferred]
    )
    (term,) = spec["affinity"]["nodeAffinity"][REQUIRED]["nodeSelectorTerms"]
    assert term == {"matchExpressions": [NOT_SPOT]}  # not checkpointable: never on spot
    assert REQUIRED not in template["affinity"]["nodeAffinity"]  # the job's own is untouched
    assert "volumes" not in spec  # a placeholder mounts nothing


def test_a_checkpointable_gang_s_placeholders_may_go_to_spot():
    body = running_job(checkpointable=True)
    (pod,) = placeholder_pods(body)
    assert "affinity" not in pod["spec"]


def test_spot_rules_are_added_to_each_required_term():
    terms = [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"matchFields": []}]
    affinity = {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": terms}}}
    got = off_spot(affinity)["nodeAffinity"][REQUIRED]["nodeSelectorTerms"]
    assert got == [
        {"matchExpressions": [{"key": "a", "operator": "Exists"}, NOT_SPOT]},
        {"matchFields": [], "matchExpressions": [NOT_SPOT]},
    ]


def test_a_karpenter_spot_node_takes_only_checkpointable_jobs():
    spot = node("s", 8)
    spot["metadata"]["labels"]["karpenter.sh/capacity-type"] = "spot"
    _, decided = plan([spot], [], [job("plain", 8)])
    assert decided.admit == ()


def test_a_gang_gets_one_placeholder_per_worker_of_every_replica_type():
    spec = JobSpec("ddp", Resources(4000, 16384, gpu_count=8), workers=3, image="img")
    body = render(spec, "team")
    body["metadata"]["uid"] = "u-2"
    pods = placeholder_pods(body)
    assert [p["metadata"]["name"] for p in pods] == [f"ddp-placeholder-{i}" for i in range(3)]
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "PyTorchJob"
    assert all(p["spec"]["containers"][0]["name"] == "pytorch" for p in pods)


def test_a_bound_placeholder_holds_nothing_the_job_could_take():
    bound = placeholder_pods(running_job())[0]
    bound["spec"]["nodeName"] = "g"
    bound["status"] = {"phase": "Running"}
    seen, decided = plan([node("g", 8)], [bound], [job("big", 8)])
    assert seen.nodes[0].gpu_free_milli == (1000,) * 8
    assert [a.job for a in decided.admit] == ["team/big"]


def test_nodes_with_fluid_s_label_for_the_job_s_namespace_cache_its_dataset():
    spec = JobSpec("train", Resources(1000, 1024, gpu_count=1), image="img", dataset="imagenet")
    cached, other, elsewhere = node("c", 8), node("o", 8), node("e", 8)
    cached["metadata"]["labels"]["fluid.io/s-team-imagenet"] = "true"
    elsewhere["metadata"]["labels"]["fluid.io/s-other-imagenet"] = "true"
    seen = snapshot(0.0, [cached, other, elsewhere], [], [render(spec, "team")])
    assert seen.cached == {"imagenet": frozenset({"c"})}


def test_the_gang_goes_to_the_nodes_caching_its_dataset_when_they_can_host_it():
    spec = JobSpec("train", Resources(1000, 1024, gpu_count=8), image="img", dataset="imagenet")
    plain, cache = node("a-plain", 8), node("b-cache", 8)
    cache["metadata"]["labels"]["fluid.io/s-team-imagenet"] = "true"
    _, decided = plan([plain, cache], [], [render(spec, "team")])
    assert [b.node for b in decided.admit[0].binds] == ["b-cache"]
    del cache["metadata"]["labels"]["fluid.io/s-team-imagenet"]
    _, decided = plan([plain, cache], [], [render(spec, "team")])
    assert [b.node for b in decided.admit[0].binds] == ["a-plain"]  # the engine's own pick
