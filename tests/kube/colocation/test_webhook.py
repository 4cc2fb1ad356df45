"""The batch webhook's patch and replies, exactly: what a batch pod's containers ask once
mapped, its priority, the second pass that changes nothing, and each refusal's message."""

import asyncio
import base64
import json

import pytest
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import Status

from tidewise.kube.colocation.batch import QOS, BatchNames
from tidewise.kube.colocation.settings import ColocationSettings
from tidewise.kube.colocation.webhook import Unmappable, mapping_patch, review

NAMES = BatchNames()
KOORDINATOR = BatchNames("kubernetes.io/batch-cpu", "kubernetes.io/batch-memory")
PRIORITY = {"name": "tidewise-batch", "value": -100, "preemptionPolicy": "Never"}
CPU, MEMORY = NAMES.cpu, NAMES.memory


def pod(*containers: dict, init: tuple[dict, ...] = (), **spec) -> dict:
    body = {"containers": list(containers), **spec}
    if init:
        body["initContainers"] = list(init)
    return {"metadata": {"name": "p", "labels": {QOS: "batch"}}, "spec": body}


def container(name: str = "main", **resources: dict) -> dict:
    return {"name": name, "image": "x", "resources": resources}


def by_path(patch: list[dict]) -> dict:
    assert all(op["op"] == "add" for op in patch)
    return {op["path"]: op["value"] for op in patch}


def test_cpu_and_memory_move_onto_the_batch_resources_as_requests_equal_to_limits():
    spark = container(
        requests={"cpu": "1500m", "memory": "2Gi", "ephemeral-storage": "1Gi"},
        limits={"cpu": "2", "memory": "3Gi"},
    )
    patch = by_path(mapping_patch(pod(spark), NAMES, PRIORITY))
    resources = patch["/spec/containers/0/resources"]
    # the request is the batch figure (extended resources: limit = request); the
    # native limits go too, other resources stay
    assert resources == {
        "requests": {"ephemeral-storage": "1Gi", CPU: "1500", MEMORY: str(2 * 2**30)},
        "limits": {CPU: "1500", MEMORY: str(2 * 2**30)},
    }
    assert patch["/spec/priorityClassName"] == "tidewise-batch"
    assert patch["/spec/priority"] == -100
    assert patch["/spec/preemptionPolicy"] == "Never"


def test_a_limit_alone_stands_for_the_request_and_init_containers_and_other_names_are_mapped():
    driver = container(limits={"cpu": "250m"})
    setup = container("setup", requests={"memory": "100Mi"})
    patch = by_path(mapping_patch(pod(driver, init=(setup,)), KOORDINATOR, PRIORITY))
    assert patch["/spec/containers/0/resources"] == {
        "requests": {"kubernetes.io/batch-cpu": "250"},
        "limits": {"kubernetes.io/batch-cpu": "250"},
    }
    memory = str(100 * 2**20)
    assert patch["/spec/initContainers/0/resources"] == {
        "requests": {"kubernetes.io/batch-memory": memory},
        "limits": {"kubernetes.io/batch-memory": memory},
    }


def test_a_sub_millicore_or_fractional_byte_ask_is_rounded_up_as_the_scheduler_counts_it():
    odd = container(requests={"cpu": "0.0005", "memory": "1500m"})
    resources = by_path(mapping_patch(pod(odd), NAMES, PRIORITY))["/spec/containers/0/resources"]
    assert resources["requests"] == {CPU: "1", MEMORY: "2"}


def test_a_mapped_pod_is_left_as_it_is():
    spark = container(requests={"cpu": "1", "memory": "1Gi"})
    first = mapping_patch(pod(spark), NAMES, PRIORITY)
    mapped = pod(container(**by_path(first)["/spec/containers/0/resources"]))
    mapped["spec"] |= {"priorityClassName": "tidewise-batch", "priority": -100}
    mapped["spec"]["preemptionPolicy"] = "Never"
    assert mapping_patch(mapped, NAMES, PRIORITY) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            pod(container(limits={"nvidia.com/gpu": "1"})),
            "spec.containers[0] (main).resources: nvidia.com/gpu: batch pods get no GPUs; "
            "remove the qos label",
        ),
        (
            pod(container(requests={"cpu": "1", CPU: "1000"}, limits={CPU: "1000"})),
            f"spec.containers[0] (main).resources: asks both cpu and {CPU}; keep one",
        ),
        (
            pod(container(requests={"memory": "lots"})),
            "spec.containers[0] (main).resources: memory: 'lots' is not a Kubernetes quantity",
        ),
        (
            pod(container(requests={"cpu": "1"}), priorityClassName="high"),
            "spec.priorityClassName: high: a batch pod runs at tidewise-batch; remove it or the "
            "tidewise.io/qos label",
        ),
    ],
)
def test_what_cannot_be_mapped_is_refused_by_name(spec, message):
    with pytest.raises(Unmappable) as refused:
        mapping_patch(spec, NAMES, PRIORITY)
    assert str(refused.value).startswith(message)


class Classes:
    """The PriorityClasses the API server holds."""

    def __init__(self, **values: int) -> None:
        self.values = values

    async def get(self, _res, name: str):
        if name not in self.values:
            raise ApiError(status=Status(code=404, message="not found"))
        return _Found({"value": self.values[name], "preemptionPolicy": "Never"})


class _Found(dict):
    def to_dict(self) -> dict:
        return self


def answer(client, body: dict) -> dict:
    settings = ColocationSettings("http://prometheus:9090", cert=None, key=None)  # type: ignore[arg-type]
    return asyncio.run(review(client, settings, body))["response"]


def admission(obj: dict, operation: str = "CREATE") -> dict:
    return {"request": {"uid": "u1", "operation": operation, "object": obj}}


def test_the_reply_carries_the_patch_and_the_class_read_from_the_api():
    reply = answer(
        Classes(**{"tidewise-batch": -7}), admission(pod(container(limits={"cpu": "1"})))
    )
    assert reply["uid"] == "u1" and reply["allowed"] is True
    assert reply["patchType"] == "JSONPatch"
    patch = by_path(json.loads(base64.b64decode(reply["patch"])))
    assert patch["/spec/priority"] == -7


def test_pods_that_are_not_batch_or_not_created_pass_untouched():
    online = {"metadata": {"name": "web"}, "spec": {"containers": [container()]}}
    assert answer(Classes(), admission(online)) == {"uid": "u1", "allowed": True}
    batch = pod(container(requests={"cpu": "1"}))
    assert answer(Classes(), admission(batch, "UPDATE")) == {"uid": "u1", "allowed": True}


def test_a_missing_class_and_an_unmappable_pod_are_refused_with_their_reason():
    reply = answer(Classes(), admission(pod(container(requests={"cpu": "1"}))))
    assert reply["allowed"] is False
    assert reply["status"] == {
        "code": 403,
        "reason": "Forbidden",
        "message": "tidewise co-location: PriorityClass tidewise-batch is not installed: "
        "apply deploy/operator/components/colocation",
    }
    gpu = pod(container(limits={"nvidia.com/gpu": "1"}))
    reply = answer(Classes(**{"tidewise-batch": -100}), admission(gpu))
    assert reply["allowed"] is False and "batch pods get no GPUs" in reply["status"]["message"]
    assert "patch" not in reply
