"""Write a fleet-scale twin scenario: N services over D days, shapes drawn from real traces.

    python scripts/fleet_scenario.py [--services 50] [--days 30] [--peak-nodes 500]
        [--seed 22] [--out examples/fleet-50.yaml]

What each service takes from which trace (all in ../shared/data, see its READMEs):

- **traffic**: the NASA-HTTP trace (builtin, July 1995), each service shifted by a whole
  number of hours (services in other time zones or with other peaks), so the fleet's peak is
  not every service's peak at once. No 30 days of the trace are without a gap (the July
  log ends on 28 July 13:32, data/nasa-http-1995/README.md), so from then to the end of July
  each service holds its last observed minute (``on_gap: previous``): a quiet last 3.4 days;
- **pod shapes**: rows of Alibaba's openb pod list (``openb_pod_list_default.csv``, the FGD
  paper's trace): CPU-only rows for the CPU tier, one-GPU rows (a whole GPU or a share) for
  the GPU tier. openb's nodes are 96-core / 8-GPU machines and our pools' are 4-16 vCPU, so
  CPU and memory are scaled by ``SHAPE_SCALE`` (1/4); a GPU share stays as it is, its GPU
  memory in proportion to a 22 GiB device (A10G / L4 have 24 GB);
- **GPU replica capacity**: requests per second per replica from the Azure LLM inference
  trace 2023: a replica's GPU share times ``TOKENS_PER_GPU_S`` over the mean tokens (prompt +
  output) of the service's requests, drawn from the conversation or the code sample. The
  throughput is an assumption of this script, chosen to match the default scenario's
  inference service (1 request/s per half GPU); CPU replicas serve 10-50 requests/s (the
  default's web tier serves 30).

Each service's traffic is then scaled so that its peak, at its target utilisation, needs
its share of ``--peak-nodes`` nodes of the cheapest on-demand type that hosts it (shares
drawn log-uniformly: a few large services, many small ones, as fleets are). That estimate
counts each service alone on its cheapest type; the twin's ``fixed-on-demand`` fleet came
out at about twice it (1,976 nodes for ``--peak-nodes 1000``: the scheduler packs GPU shares
and pods less tightly than the per-type count), so the default of 500 gives about 1,000
nodes at peak; autoscaled policies need fewer.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

from tidewise.capacity.provisioning import cheapest_offering
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.model import PurchaseOption, Resources
from tidewise.sim.traces import GapPolicy, builtin_trace_path, load_minute_trace

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SHAPE_SCALE = 0.25
GPU_MEMORY_GIB = 22
TOKENS_PER_GPU_S = 2300.0
GPU_SHARE = 0.3
START = "1995-07-01T00:00:00-04:00"
ZONES = ["use1-az1", "use1-az2", "use1-az4"]
POOLS = {
    "general": [
        "m6i.xlarge",
        "m6i.2xlarge",
        "m6i.4xlarge",
        "c6i.2xlarge",
        "c6i.4xlarge",
        "r6i.xlarge",
        "r6i.2xlarge",
    ],
    "gpu": ["g5.xlarge", "g5.2xlarge", "g6.xlarge"],
}


def openb_shapes(path: Path) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    """The CPU-only and the one-GPU pod rows, scaled to our node sizes."""
    cpu, gpu = [], []
    with path.open() as f:
        for row in csv.DictReader(f):
            shape = {
                "cpu": max(100, int(round(int(row["cpu_milli"]) * SHAPE_SCALE, -2))),
                "memory": max(256, round(int(row["memory_mib"]) * SHAPE_SCALE / 256) * 256),
                "gpu_milli": int(row["gpu_milli"]),
            }
            if row["num_gpu"] == "0":
                cpu.append(shape)
            elif row["num_gpu"] == "1":
                gpu.append(shape)
    return cpu, gpu


def mean_tokens(path: Path) -> float:
    with gzip.open(path, "rt") as f:
        rows = list(csv.DictReader(f))
    return float(np.mean([int(r["ContextTokens"]) + int(r["GeneratedTokens"]) for r in rows]))


def requests_of(shape: dict[str, int]) -> dict[str, object]:
    out: dict[str, object] = {"cpu": f"{shape['cpu']}m", "memory": f"{shape['memory']}Mi"}
    milli = shape.get("gpu_milli", 0)
    if milli >= 1000:
        out["gpu"] = 1
    elif milli:
        out["gpu_milli"] = milli
        out["gpu_memory"] = f"{max(1, round(milli * GPU_MEMORY_GIB / 1000))}Gi"
    return out


def resources_of(shape: dict[str, int]) -> Resources:
    """The shape as the twin reads :func:`requests_of` back."""
    milli = shape.get("gpu_milli", 0)
    share = 0 < milli < 1000
    return Resources(
        cpu_milli=shape["cpu"],
        memory_mib=shape["memory"],
        gpu_count=int(milli >= 1000),
        gpu_milli=milli if share else 0,
        gpu_memory_mib=max(1, round(milli * GPU_MEMORY_GIB / 1000)) * 1024 if share else 0,
    )


def build(services: int, days: int, peak_nodes: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    catalog = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws", zones=ZONES)
    allowed = {t for types in POOLS.values() for t in types}
    on_demand = [
        o
        for o in catalog.offerings
        if o.option is PurchaseOption.ON_DEMAND and o.instance_type.name in allowed
    ]
    cpu_shapes, gpu_shapes = openb_shapes(DATA / "alibaba-gpu-v2023" / "openb_pod_list_default.csv")
    llm = DATA / "azure-llm-inference-2023"
    tokens = [mean_tokens(llm / f"AzureLLMInferenceTrace_{k}.csv.gz") for k in ("conv", "code")]
    trace = load_minute_trace(builtin_trace_path("nasa-http-1995"), None, None, None)
    minutes = days * 1440
    shares = np.exp(rng.uniform(0, math.log(30), services))
    shares = shares / shares.sum()
    gpus = round(services * GPU_SHARE)
    workloads = []
    for i in range(services):
        gpu = i < gpus
        chosen = None
        while chosen is None:  # a shape some type of the pools hosts
            pool = gpu_shapes if gpu else cpu_shapes
            shape = pool[int(rng.integers(len(pool)))]
            chosen = cheapest_offering(resources_of(shape), on_demand)
        if gpu:
            share = (resources_of(shape).gpu_milli or 1000) / 1000
            rps = round(float(share * TOKENS_PER_GPU_S / tokens[i % 2]), 3)
            startup = int(rng.integers(60, 181))
        else:
            rps = float(rng.integers(10, 51))
            startup = int(rng.integers(15, 61))
        shift_h = int(rng.integers(0, 24))
        start = datetime.fromisoformat(START).timestamp() + shift_h * 3600
        window = trace.window(start, minutes, GapPolicy.PREVIOUS)
        target = 0.7
        nodes = max(1.0, shares[i] * peak_nodes)
        peak_replicas = nodes * chosen.pods_per_node
        scale = peak_replicas * rps * target * 60 / float(window.max())
        name = f"{'gpu' if gpu else 'svc'}-{i:02d}"
        workloads.append(
            {
                "name": name,
                "trace": {
                    "path": "builtin:nasa-http-1995",
                    "start": START,
                    "scale": round(float(scale), 3),
                    "shift": f"{shift_h}h",
                    "on_gap": "previous",
                },
                "rps_per_replica": rps,
                "requests": requests_of(shape),
                "startup": f"{startup}s",
                "replicas": {"min": 1, "max": max(4, math.ceil(peak_replicas * 2))},
                "target_utilization": target,
                "capacity": {"max_unavailable": 1},
            }
        )
    return {
        "name": f"fleet-{services}",
        "description": f"{services} services over {days} days: NASA-shaped traffic, openb pod "
        "shapes, Azure LLM request sizes; CPU and GPU tiers on AWS us-east-1 prices.",
        "seed": seed,
        "horizon": f"{days}d",
        "catalog": {
            "path": "builtin:aws-us-east-1",
            "provider": "aws",
            "zones": ZONES,
            "reserved": {"discount": 0.4, "term": "365d"},
        },
        "node_pools": [{"name": k, "instance_types": v} for k, v in POOLS.items()],
        "workloads": workloads,
        "policies": ["fixed-on-demand", "reactive"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--peak-nodes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--out", type=Path, default=ROOT / "examples" / "fleet-50.yaml")
    args = parser.parse_args()
    scenario = build(args.services, args.days, args.peak_nodes, args.seed)
    header = (
        f"# Generated by scripts/fleet_scenario.py --services {args.services} --days "
        f"{args.days} --peak-nodes {args.peak_nodes} --seed {args.seed}\n"
        "# (see its docstring for which trace each field comes from). Regenerate, do not edit.\n"
    )
    args.out.write_text(header + yaml.safe_dump(scenario, sort_keys=False, width=100))
    print(f"wrote {args.out}: {len(scenario['workloads'])} services")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
