"""The simulated cluster behind ``tidewise job --cluster sim``: jobs and nodes in one file.

Successive commands see each other through a JSON state file, written atomically by the
caller (a crash leaves the previous state whole). Every command reconciles: the queue policy
takes a pass over the stored jobs and its plan is applied, so state never depends on which
command ran last. Simulated jobs run until deleted (there is no workload inside them).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from tidewise.capacity.costshare import PlacedPod, PricedNode, allocate, summed, unit_prices
from tidewise.catalog import Catalog, builtin_catalog_path, load_catalog
from tidewise.model import (
    DEFAULT_QUEUE,
    Bind,
    Job,
    JobPhase,
    JobSpec,
    Node,
    NodeState,
    Offering,
    PurchaseOption,
    Resources,
)
from tidewise.placement import with_pod
from tidewise.queue import FlavorQuota, QueueConfig, QueuePlan, QueuePolicy, QueueSnapshot

STATE_VERSION = 1
DEFAULT_INSTANCE_TYPE = "p4d.24xlarge"
DEFAULT_NODES = 2


class StateError(ValueError):
    pass


@dataclass
class SimJobCluster:
    """Nodes of one instance type, one queue per name with a GPU quota, and the jobs."""

    epoch_unix_s: float  # when the cluster was made: job times are seconds since then
    instance_type: str = DEFAULT_INSTANCE_TYPE
    node_count: int = DEFAULT_NODES
    queues: dict[str, float] = field(default_factory=dict)  # queue name -> nominal GPUs
    jobs: dict[str, Job] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.queues:
            self.queues = {DEFAULT_QUEUE: float(self.gpu_total)}

    @cached_property
    def _catalog(self) -> Catalog:
        return load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")

    @cached_property
    def offering(self) -> Offering:
        return next(
            o
            for o in self._catalog.offerings
            if o.option is PurchaseOption.ON_DEMAND and o.instance_type.name == self.instance_type
        )

    def cost_so_far_usd(self, time_s: float) -> dict[str, float]:
        """What each running job has cost since it was last admitted: its nodes' on-demand
        price split over the workers bound there by their requests, with `tidewise cost`'s
        rule (OpenCost's; ``capacity.costshare``), times the hours since admission."""
        nodes = self.nodes()
        priced = [PricedNode(n.name, n.offering.price_per_hour, n.capacity) for n in nodes]
        placed = [
            PlacedPod(bind.pod, "sim", bind.node, job.spec.worker, {"job": job.name})
            for job in self.jobs.values()
            for bind in job.binds
        ]
        allocation = allocate(priced, placed, unit_prices(self._catalog.offerings))
        hourly = summed(allocation, placed, lambda pod: pod.labels["job"])
        return {
            job.name: hourly[job.name].total * max(time_s - job.admitted_s, 0.0) / 3600
            for job in self.jobs.values()
            if job.admitted_s is not None and job.phase is JobPhase.RUNNING
        }

    @property
    def gpu_total(self) -> int:
        return self.node_count * 8

    def policy(self) -> QueuePolicy:
        model = self.offering.instance_type.gpu_model or ""
        return QueuePolicy(
            tuple(QueueConfig(q, (FlavorQuota.gpus(model, g),)) for q, g in self.queues.items())
        )

    def nodes(self) -> list[Node]:
        """The nodes with every admitted job's workers bound where its binds say."""
        offering = self.offering
        capacity = offering.instance_type.capacity
        nodes = {
            f"sim-{i}": Node(
                name=f"sim-{i}",
                offering=offering,
                capacity=capacity,
                state=NodeState.READY,
                launched_s=0.0,
                ready_s=0.0,
            )
            for i in range(self.node_count)
        }
        for job in self.jobs.values():
            for bind in job.binds:
                nodes[bind.node] = with_pod(nodes[bind.node], job.spec.worker, bind.gpu_indices)
        return list(nodes.values())

    def reconcile(self, time_s: float) -> QueuePlan:
        """One admission pass, applied; returns the plan (reasons for every waiting job)."""
        snapshot = QueueSnapshot(time_s, tuple(self.nodes()), tuple(self.jobs.values()))
        plan = self.policy().plan(snapshot, np.random.default_rng(0))
        for preempt in plan.preempt:
            job = self.jobs[preempt.job]
            self.jobs[preempt.job] = replace(
                job, phase=JobPhase.QUEUING, binds=(), admitted_s=None, flavor=None
            )
        for admit in plan.admit:
            job = self.jobs[admit.job]
            self.jobs[admit.job] = replace(
                job,
                phase=JobPhase.RUNNING,
                admitted_s=time_s,
                flavor=admit.flavor,
                borrowing=admit.borrowing,
                binds=admit.binds,
            )
        return plan

    # the state file ----------------------------------------------------------------------

    def to_json(self) -> str:
        document = {
            "version": STATE_VERSION,
            "epoch_unix_s": self.epoch_unix_s,
            "instance_type": self.instance_type,
            "node_count": self.node_count,
            "queues": self.queues,
            "jobs": [asdict(j) for j in self.jobs.values()],
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SimJobCluster:
        try:
            data = json.loads(text)
            if data.get("version") != STATE_VERSION:
                raise StateError(f"state version {data.get('version')}, expected {STATE_VERSION}")
            jobs = [_job(j) for j in data["jobs"]]
            return cls(
                float(data["epoch_unix_s"]),
                data["instance_type"],
                int(data["node_count"]),
                {str(k): float(v) for k, v in data["queues"].items()},
                {j.name: j for j in jobs},
            )
        except StateError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise StateError(f"not a tidewise job state file ({err})") from None


def _job(data: dict[str, Any]) -> Job:
    spec = dict(data["spec"])
    spec["worker"] = Resources(**spec["worker"])
    spec["command"] = tuple(spec["command"])
    return Job(
        spec=JobSpec(**spec),
        phase=JobPhase(data["phase"]),
        submitted_s=float(data["submitted_s"]),
        admitted_s=data["admitted_s"],
        flavor=data["flavor"],
        borrowing=bool(data["borrowing"]),
        binds=tuple(Bind(b["pod"], b["node"], tuple(b["gpu_indices"])) for b in data["binds"]),
        finished_s=data["finished_s"],
    )
