"""Right-sizing in the twin: replayed usage into the VPA-style recommender, priced.

The twin serves load with replicas whose usage is below their requests (the scenario's usage
model). After a run, each workload's usage per step (CPU as the HPA sees it, memory by the
usage model) goes into ``ResourceRecommender`` as one sample per step, and the recommendation
is compared with the requests at the run's mean replica count. A vCPU-hour and a GiB-hour are
priced from the scenario's own on-demand offerings (a non-negative least-squares fit of price
on vCPUs and GiB over the CPU-only types), so the saving is in the same money as the costs.

Caveat the report repeats: an HPA that scales on CPU utilisation of the request sees a higher
utilisation after CPU requests shrink and adds replicas; VPA's docs advise against both on
CPU. The memory saving has no such interaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tidewise.capacity.costshare import UnitPrices
from tidewise.model import WorkloadSpec
from tidewise.model.results import RightsizingLine, TimeSeries
from tidewise.scaling.rightsizing import (
    HOURS_PER_MONTH,
    ContainerKey,
    ContainerRequest,
    ResourceRecommender,
    rightsizing_report,
)
from tidewise.sim.services.scenario import UsageSpec

CONTAINER = "main"


def rightsize(
    workloads: Sequence[WorkloadSpec],
    usage: Sequence[UsageSpec],
    series: TimeSeries,
    prices: UnitPrices,
) -> list[RightsizingLine]:
    recommender = ResourceRecommender()
    priced = prices.usd_per_vcpu_hour > 0 or prices.usd_per_gib_hour > 0
    requests = []
    end_s = len(next(iter(series.demand_rps.values()), [])) * series.step_s
    for spec, use in zip(workloads, usage, strict=True):
        key = ContainerKey(spec.name, CONTAINER)
        demand = np.asarray(series.demand_rps[spec.name])
        capacity = np.asarray(series.capacity_rps[spec.name])
        util = np.divide(demand, capacity, out=np.zeros_like(demand), where=capacity > 0)
        util = np.minimum(util, 1.0)
        cpu = spec.requests.cpu_milli * util
        memory = spec.requests.memory_mib * use.memory_share(util)
        for step in np.flatnonzero(capacity > 0):
            recommender.add_usage(
                key,
                float(step * series.step_s),
                float(cpu[step]),
                float(memory[step]),
                pod="replica",
            )
        replicas = float((capacity / spec.rps_per_replica).mean())
        requests.append((key, replicas, spec))
    lines = []
    for key, replicas, spec in requests:
        try:
            recommendation = recommender.recommend(key, end_s)
        except KeyError:
            continue
        report = rightsizing_report(
            [ContainerRequest(key, 1, spec.requests.cpu_milli, spec.requests.memory_mib)],
            {key: recommendation},
            usd_per_vcpu_hour=prices.usd_per_vcpu_hour,
            usd_per_gib_hour=prices.usd_per_gib_hour,
        )
        line = report.containers[0]
        lines.append(
            RightsizingLine(
                workload=spec.name,
                mean_replicas=round(replicas, 2),
                cpu_request_milli=spec.requests.cpu_milli,
                cpu_target_milli=line.target_cpu_milli,
                memory_request_mib=spec.requests.memory_mib,
                memory_target_mib=line.target_memory_mib,
                reclaimable_vcpu=round(line.reclaimable_cpu_milli / 1000 * replicas, 3),
                reclaimable_gib=round(line.reclaimable_memory_mib / 1024 * replicas, 3),
                reclaimable_usd_per_month=(
                    round(line.reclaimable_usd_per_hour * replicas * HOURS_PER_MONTH, 2)
                    if priced
                    else None
                ),
            )
        )
    return lines
