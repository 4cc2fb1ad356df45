"""The result of a replay: the stable JSON schema of ``tidewise sim --json`` (docs/sim-json.md).

Later issues add fields; existing fields keep their name, unit and meaning.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

PURCHASE_OPTIONS = ("on-demand", "spot", "reserved", "serverless")


class TimeSeries(BaseModel):
    """Per-step samples for the report; not part of the JSON output.

    ``demand_rps`` and ``capacity_rps`` are step averages per workload; ``cost_usd`` is the
    cost accrued in each step, per purchase option. ``gpu_fragment_pct`` samples, every
    ``gpu_fragment_step_s``, the share of the cluster's GPUs that is idle but unusable by the
    GPU pod shapes seen so far (FGD's fragmentation measure; empty without GPU nodes).
    """

    model_config = ConfigDict(frozen=True)

    step_s: float
    start_unix_s: float
    demand_rps: dict[str, list[float]]
    capacity_rps: dict[str, list[float]]
    cost_usd: dict[str, list[float]]
    gpu_fragment_pct: list[float] = []
    gpu_fragment_step_s: float = 900.0
    # the scenario's clock (its first trace's start offset, seconds east of UTC): the report
    # draws times as people there read them
    utc_offset_s: float = 0.0


class WorkloadResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    served_fraction: float
    violation_minutes: float
    peak_replicas: int


class RightsizingLine(BaseModel):
    """One workload's requests against the VPA-style recommendation from its replayed usage.

    Reclaimable amounts are per replica times the run's mean replicas; dollars at the
    catalog's price of a vCPU-hour and a GiB-hour, over a 730-hour month.
    """

    model_config = ConfigDict(frozen=True)

    workload: str
    mean_replicas: float
    cpu_request_milli: int
    cpu_target_milli: int
    memory_request_mib: int
    memory_target_mib: int
    reclaimable_vcpu: float
    reclaimable_gib: float
    # None: the catalog has no CPU-only types to price a vCPU-hour and a GiB-hour by (a
    # scenario of GPU pools alone), so no honest figure exists
    reclaimable_usd_per_month: float | None


class BatchResult(BaseModel):
    """The batch load of a co-location policy (docs/colocation.md). Work in core-hours of
    executor pods' CPU requests; ``cost_usd`` is what the batch's own nodes cost (the
    online nodes it shared are the online cost, already paid)."""

    model_config = ConfigDict(frozen=True)

    jobs: int
    jobs_completed: int
    offered_core_hours: float
    done_core_hours: float  # completed pods' work, each counted once
    shared_core_hours: float  # of the work run (kept or lost), what ran on online nodes
    evictions: int  # executor pods evicted (online usage rose, or their node went)
    lost_core_hours: float  # work since each evicted pod's last checkpoint, done again
    own_node_launches: int
    cost_usd: float
    contention_node_minutes: int  # shared nodes whose online usage plus batch passed capacity


class RunResult(BaseModel):
    """One policy's replay. Costs in USD, hours of provisioned capacity (paid for)."""

    model_config = ConfigDict(frozen=True)

    policy: str
    cost_usd: float
    cost_by_option_usd: dict[str, float]
    served_fraction: float
    violation_minutes: float
    vcpu_hours: float
    gpu_hours: float
    node_launches: int
    interruptions: int
    launch_failures: int
    spot_share: float = 0.0  # share of node-hours on spot
    evictions: int = 0  # pods removed with their node (interruption, drain)
    pods_lost: int = 0  # evicted pods not running again by the end, and still wanted
    workloads: list[WorkloadResult]
    rightsizing: list[RightsizingLine] = []
    batch: BatchResult | None = None  # the colocation policies' batch load
    wall_s: float = Field(exclude=True)
    timeseries: TimeSeries | None = Field(default=None, exclude=True)


class SimReport(BaseModel):
    """All policies of one scenario, with the scenario's offline cost lower bound.

    ``lower_bound_usd`` is what serving all the demand costs at least, whatever the policy
    (``tidewise.capacity.lower_bound``); it sits below every run that serves everything.
    ``startup_lower_bound_usd`` is the same with capacity paid for from a start-up before it
    serves (each workload's start-up plus the shortest boot that can host it): no less, and
    what a policy that cannot buy capacity instantly reads against.
    """

    model_config = ConfigDict(frozen=True)

    scenario: str
    horizon_s: float
    seed: int
    runs: list[RunResult]
    lower_bound_usd: float
    startup_lower_bound_usd: float | None = None


class GpuPackSummary(BaseModel):
    """One policy of ``tidewise bench gpu-pack`` over all its seeds (docs/gpu-pack.md).

    Keys of the ``*_at`` maps are arrived GPU demand in % of cluster GPUs ("0".."130");
    allocation and fragment amount are in % of cluster GPUs, means over seeds.
    """

    model_config = ConfigDict(frozen=True)

    policy: str
    workload: str
    seeds: list[int]
    alloc_pct_at: dict[str, float]
    alloc_pct_at_by_seed: dict[str, dict[str, float]]
    frag_pct_at: dict[str, float]
    failed_pods: float
    pods_per_second: float


class GpuMovesSummary(GpuPackSummary):
    """A policy of ``tidewise bench gpu-pack`` with moves (``--moves``, ``--deschedule``),
    over its seeds (docs/gpu-pack.md). Means over seeds.

    ``moved_pct_of_placed`` is the pods moved as % of the pods placed at the end (the
    budget's measure); ``lost_pods`` the moved pods that found no place again. Allocation (%
    of cluster GPUs) when every pod has arrived, after the descheduling pass (the FGD
    simulator's end; the same for online moves), and with the failed pods offered again.
    """

    mover: str
    moved_pods: float
    placed_pods: float
    moved_pct_of_placed: float
    lost_pods: float
    alloc_pct_arrived: float
    alloc_pct_end: float
    alloc_pct_retried: float
    alloc_pct_retried_by_seed: dict[str, float]
    alloc_bound_pct: float
