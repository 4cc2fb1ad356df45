"""Small, hand-checkable offerings and nodes for tests."""

import os
from pathlib import Path

from tidewise.model import (
    Billing,
    Bind,
    InstanceType,
    Job,
    JobPhase,
    JobSpec,
    Node,
    NodeState,
    Offering,
    Pod,
    PodPhase,
    PurchaseOption,
    Resources,
)
from tidewise.model.inference import InferenceProfile
from tidewise.placement import with_pod

# the repository is checked out beside shared/ (as in CI); override with TIDEWISE_SHARED_DATA
SHARED_DATA = Path(
    os.environ.get("TIDEWISE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)

CPU4 = InstanceType("cpu4", vcpus=4, memory_mib=16384)
CPU8 = InstanceType("cpu8", vcpus=8, memory_mib=32768)
GPU1 = InstanceType(
    "gpu1", vcpus=4, memory_mib=16384, gpu_count=1, gpu_model="A10G", gpu_memory_mib=24576
)


def offering(
    itype: InstanceType,
    option: PurchaseOption = PurchaseOption.ON_DEMAND,
    price: float = 1.0,
    **extra,
) -> Offering:
    return Offering(itype, "z1", option, price, billing=Billing(1.0, 60.0), **extra)


def node(
    itype: InstanceType,
    name: str = "n1",
    state: NodeState = NodeState.READY,
    option: PurchaseOption = PurchaseOption.ON_DEMAND,
) -> Node:
    cap = itype.capacity
    return Node(
        name=name,
        offering=offering(itype, option),
        capacity=cap,
        state=state,
        launched_s=0.0,
    )


def pod(
    requests: Resources,
    name: str = "p",
    workload: str = "web",
    node_name: str | None = None,
    capacity_types: frozenset[PurchaseOption] | None = None,
) -> Pod:
    phase = PodPhase.PENDING if node_name is None else PodPhase.RUNNING
    return Pod(name, workload, requests, phase, 0.0, node_name, capacity_types=capacity_types)


A100X8 = InstanceType(
    "a100x8", vcpus=96, memory_mib=1_179_648, gpu_count=8, gpu_model="A100", gpu_memory_mib=40960
)


def job_spec(name: str, gpus: int = 1, workers: int = 1, **extra) -> JobSpec:
    """A job of ``workers`` workers with ``gpus`` whole GPUs, 4 CPUs and 16 GiB each."""
    worker = extra.pop("worker", Resources(cpu_milli=4000, memory_mib=16384, gpu_count=gpus))
    return JobSpec(name, worker, workers=workers, image="img", **extra)


def queued(spec: JobSpec, submitted_s: float = 0.0) -> Job:
    return Job(spec, JobPhase.QUEUING, submitted_s)


def bound(
    nodes: list[Node],
    spec: JobSpec,
    placement: list[tuple[str, tuple[int, ...]]],
    admitted_s: float = 0.0,
    flavor: str | None = "A100",
    borrowing: bool = False,
) -> Job:
    """A running job bound as ``placement`` (node, GPU indices per worker); ``nodes`` updated."""
    binds = []
    for pod, (name, gpus) in zip(spec.pod_names(), placement, strict=True):
        i = next(k for k, n in enumerate(nodes) if n.name == name)
        nodes[i] = with_pod(nodes[i], spec.worker, gpus)
        binds.append(Bind(pod, name, gpus))
    return Job(
        spec,
        JobPhase.RUNNING,
        submitted_s=0.0,
        admitted_s=admitted_s,
        flavor=flavor,
        borrowing=borrowing,
        binds=tuple(binds),
    )


def serverless(vcpu_second_usd: float = 1e-5, gib_second_usd: float = 1e-6) -> Offering:
    """A serverless offering whose template holds any CPU pod (64 vCPU, 256 GiB)."""
    template = InstanceType("serverless", vcpus=64, memory_mib=262144)
    return Offering(
        template,
        "z1",
        PurchaseOption.SERVERLESS,
        0.0,
        vcpu_second_usd=vcpu_second_usd,
        gib_second_usd=gib_second_usd,
        billing=Billing(1.0, 60.0),
    )


# an inference server small enough to compute by hand: 10 ms per iteration, no per-sequence
# or per-context cost, 1,000 prompt tokens a second, 512 tokens an iteration, a 1,000-token
# KV cache, no cold start
TOY_SERVER = InferenceProfile(
    model="toy",
    gpu="gpu",
    gpus=1,
    prefill_tokens_per_s=1000.0,
    iteration_s=0.01,
    per_sequence_s=0.0,
    per_context_token_s=0.0,
    kv_capacity_tokens=1000,
    max_num_seqs=8,
    max_batched_tokens=512,
)


def tiny_scenario(
    horizon: str, policies: list[str], extra_workloads: tuple[dict, ...] = ()
) -> dict:
    """A scenario small enough for a CLI test: one web tier on NASA's morning of 13 July 1995,
    two CPU instance types in one zone (plus ``extra_workloads``)."""
    web = {
        "name": "web",
        "trace": {"start": "1995-07-13T08:00:00-04:00", "scale": 60},
        "rps_per_replica": 20,
        "requests": {"cpu": "1", "memory": "2Gi"},
        "startup": "20s",
        "replicas": {"min": 1, "max": 50},
    }
    return {
        "name": "tiny",
        "seed": 3,
        "horizon": horizon,
        "catalog": {"zones": ["use1-az1"]},
        "node_pools": [{"name": "general", "instance_types": ["m6i.xlarge", "c6i.2xlarge"]}],
        "workloads": [web, *extra_workloads],
        "policies": policies,
    }
