"""The offline cost lower bound of a scenario: what serving its whole demand costs at least.

An oracle that knows the demand of every minute in advance, buys capacity in fractions of a
node, boots it instantly, is never interrupted and pays no billing minimum, still has to cover
each minute's resource requests. Its cost is a linear programme, and no policy that serves all
the demand can pay less, so every policy's cost reads against it as "how far from the floor".

The LP (HiGHS, one per pool). Per step ``t`` of length ``h_t`` hours, ``r_wt = demand_rps /
rps_per_replica`` replicas of workload ``w`` (fractional, at 100 % per replica) ask for
``r_wt * requests_w`` of every resource dimension (CPU milli, memory MiB, GPU milli, GPU memory
MiB). Columns: ``x_ot`` nodes of each on-demand and spot offering, at ``price_o * h_t``;
``s_wt`` serverless replicas of a workload (at most ``r_wt``) at the price of its rounded-up
container; ``P_jt`` reserved nodes at the discounted rate. Rows: per step and dimension, the
columns' capacity covers the requests. A commitment whose term outlasts the horizon is owed
from purchase to the horizon's end, released or not, so ``P_jt`` is the cumulative amount
committed and may only grow (``P_jt <= P_j,t+1``): buying ``y`` at ``t`` costs ``y`` times the
rate for every later step. A shorter term is relaxed to the discounted rate per used step (a
node kept past its term pays on-demand, never less), a looser but still valid bound.

On-demand bases. A workload's base (``CapacityRules``) may only run on capacity no cloud
reclaims, so a second set of rows asks the on-demand and reserved columns alone to cover the
base replicas' requests; the other rows still cover everything.

Pools. GPU nodes carry the twin's implicit taint (pods without a GPU request never land there)
and GPU pods need a GPU node, so the CPU pool (non-GPU nodes and serverless) and the GPU pool
share no capacity and are solved apart, which is exact, not a relaxation. In the GPU pool every
GPU offering that some GPU workload accepts (``gpu_model``) may cover every GPU workload: a
relaxation when their models differ, exact when they agree.

Start-up ahead (``lead_s``). A replica serving at ``u`` was bound at ``u - startup`` at the
latest, to a node launched ``boot`` before that; the node is paid throughout. So capacity paid
at ``t`` covers the requests of every replica that serves at any ``u`` in ``[t, t + d]``, ``d``
the workload's start-up plus the shortest boot of anything that can host it: at least the
largest demand of that window. With demand constant per step, the window from a point ``tau``
into step ``s`` (``tau`` as a share of the step) reaches steps ``s .. s + m`` (``m = floor(d /
step)``), and step ``s + m + 1`` too once ``tau >= 1 - f`` (``f = d / step - m``): a share
``1 - f`` of the step asks for the largest replicas of steps ``s .. s + m``, the rest for those
of ``s .. s + m + 1`` (zero past the horizon). The LP is solved on each step's time-weighted
mean of the two, which is no higher than solving the parts apart (the LP's optimum is convex
in the demand, as for blocks below), so it is still a bound: one no policy that must buy
capacity a start-up ahead can beat, where ``lead_s = None`` is the instant-capacity oracle.

Steps. At ``block=1`` a step is a demand step (a minute: demand is constant within it in the
twin). Averaging the demand over ``block`` steps gives a looser bound that is still valid: the
block average of any feasible solution is feasible for the averaged demand at the same cost
(block means of a growing commitment still grow), so the averaged LP's optimum is no higher.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from tidewise.model import (
    GUARANTEED,
    MILLI_PER_GPU,
    Offering,
    PurchaseOption,
    Resources,
    WorkloadSpec,
)

PriceOf = Callable[[Offering, Resources | None], float]
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class _Column:
    """One kind of capacity in a pool's LP: what one unit covers per step and what it costs."""

    covers: np.ndarray  # per resource dimension
    usd_per_hour: float
    committed: bool = False  # reserved with a term past the horizon: may only grow
    guaranteed: bool = False  # never reclaimed: may host an on-demand base
    serverless_of: int | None = None  # a workload's serverless replica: at most its replicas


def offline_lower_bound(
    workloads: Sequence[WorkloadSpec],
    demand_rps: np.ndarray,
    step_s: float,
    offerings: Sequence[Offering],
    price_of: PriceOf,
    block: int = 1,
    lead_s: Sequence[float] | None = None,
) -> float:
    """The least USD any policy pays to serve ``demand_rps`` (workloads x steps of ``step_s``).

    ``price_of`` prices an offering as the twin bills it (a serverless one for a pod's
    requests). ``lead_s``, per workload, is how long before serving its capacity must be
    paid for (module docstring; not with ``block > 1``). Raises ``ValueError`` when some
    demand has no offering that could host it.
    """
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    demand = np.asarray(demand_rps, dtype=float)
    if demand.shape[0] != len(workloads):
        raise ValueError(f"demand has {demand.shape[0]} rows for {len(workloads)} workloads")
    if lead_s is not None and (block != 1 or len(lead_s) != len(workloads)):
        raise ValueError("lead_s needs block=1 and one lead per workload")
    replicas = demand / np.array([w.rps_per_replica for w in workloads])[:, None]
    horizon_s = demand.shape[1] * step_s
    gpu = np.array([w.requests.wants_gpu for w in workloads], dtype=bool)
    total = 0.0
    for in_pool in (gpu, ~gpu):
        members = [w for w, inside in zip(workloads, in_pool, strict=True) if inside]
        if not members or not replicas[in_pool].any():
            continue
        if lead_s is None:
            pool, hours = _blocks(replicas[in_pool], step_s, block)
        else:
            leads = [d for d, inside in zip(lead_s, in_pool, strict=True) if inside]
            pool, hours = _ahead(replicas[in_pool], step_s, leads)
        columns = _columns(members, offerings, price_of, horizon_s)
        total += _solve_pool(members, pool, hours, columns)
    return total


def _ahead(
    replicas: np.ndarray, step_s: float, lead_s: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Each step's replicas as the time-weighted mean of its parts' window maxima (module
    docstring), and each step's length in hours."""
    workloads, steps = replicas.shape
    whole = [int(d // step_s) for d in lead_s]
    padded = np.concatenate([replicas, np.zeros((workloads, max(whole) + 2))], axis=1)
    ahead = np.empty_like(replicas)
    for w, (d, m) in enumerate(zip(lead_s, whole, strict=True)):
        share = d / step_s - m
        windows = np.lib.stride_tricks.sliding_window_view(padded[w], m + 2)[:steps]
        early, late = windows[:, : m + 1].max(axis=1), windows.max(axis=1)
        ahead[w] = (1 - share) * early + share * late
    return ahead, np.full(steps, step_s / SECONDS_PER_HOUR)


def _blocks(replicas: np.ndarray, step_s: float, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean replicas per block of steps and each block's length in hours."""
    steps = replicas.shape[1]
    starts = np.arange(0, steps, block)
    lengths = np.diff(np.append(starts, steps))
    means = np.add.reduceat(replicas, starts, axis=1) / lengths if steps else replicas
    return means, lengths * step_s / SECONDS_PER_HOUR


def _demand_vector(requests: Resources) -> np.ndarray:
    gpu_milli = requests.gpu_count * MILLI_PER_GPU + requests.gpu_milli
    return np.array(
        [requests.cpu_milli, requests.memory_mib, gpu_milli, requests.gpu_memory_mib], dtype=float
    )


def _capacity_vector(offering: Offering) -> np.ndarray:
    itype = offering.instance_type
    return np.array(
        [
            round(itype.vcpus * 1000),
            itype.memory_mib,
            itype.gpu_count * MILLI_PER_GPU,
            itype.gpu_count * itype.gpu_memory_mib,
        ],
        dtype=float,
    )


def _columns(
    members: Sequence[WorkloadSpec],
    offerings: Sequence[Offering],
    price_of: PriceOf,
    horizon_s: float,
) -> list[_Column]:
    """The pool's capacity kinds, the cheapest of each identical shape and option only."""
    gpu_pool = members[0].requests.wants_gpu
    named = [w.requests.gpu_models for w in members if w.requests.gpu_models is not None]
    models = frozenset[str]().union(*named) if len(named) == len(members) else None  # None: any
    cheapest: dict[tuple[object, ...], _Column] = {}
    for offering in offerings:
        itype = offering.instance_type
        if offering.option is PurchaseOption.SERVERLESS:
            for i, workload in enumerate(members):
                if workload.requests.wants_gpu:
                    continue
                try:
                    price = price_of(offering, workload.requests)
                except ValueError:
                    continue
                covers = _demand_vector(workload.requests)
                _keep(cheapest, ("serverless", i), _Column(covers, price, serverless_of=i))
            continue
        if bool(itype.gpu_count) != gpu_pool:
            continue
        if gpu_pool and models is not None and itype.gpu_model not in models:
            continue
        committed = offering.option is PurchaseOption.RESERVED and offering.term_s >= horizon_s
        covers = _capacity_vector(offering)
        key = (offering.option, committed, *covers)
        column = _Column(covers, price_of(offering, None), committed, offering.option in GUARANTEED)
        _keep(cheapest, key, column)
    return list(cheapest.values())


def _base_replicas(members: Sequence[WorkloadSpec], replicas: np.ndarray) -> np.ndarray:
    """Each workload's on-demand base at fractional replicas ``r``: ``min(r, max(count,
    share * r))``, never more than any policy serving ``r`` pins (it runs at least ``r``)."""
    count = np.array([w.rules.on_demand_base for w in members], dtype=float)[:, None]
    share = np.array([w.rules.on_demand_base_pct for w in members])[:, None]
    return np.minimum(replicas, np.maximum(count, share * replicas))


def _keep(cheapest: dict[tuple[object, ...], _Column], key: tuple[object, ...], c: _Column) -> None:
    if key not in cheapest or c.usd_per_hour < cheapest[key].usd_per_hour:
        cheapest[key] = c


def _solve_pool(
    members: Sequence[WorkloadSpec],
    replicas: np.ndarray,
    hours: np.ndarray,
    columns: list[_Column],
) -> float:
    """One LP over all steps of a pool; variables step-major, ``n`` columns per step."""
    requests = np.array([_demand_vector(w.requests) for w in members])  # workloads x dims
    need = replicas.T @ requests  # steps x dims
    dims = np.flatnonzero(need.any(axis=0))
    steps, n = need.shape[0], len(columns)
    if not columns:
        raise ValueError(f"no offering can host {', '.join(w.name for w in members)}")
    covers = np.array([c.covers[dims] for c in columns]).T  # dims x columns
    a_cover = sparse.kron(sparse.identity(steps), sparse.csr_matrix(-covers))
    b_cover = -need[:, dims].ravel()
    committed = [k for k, c in enumerate(columns) if c.committed]
    rows: list[sparse.csr_matrix | sparse.bsr_matrix] = []
    for k in committed:
        first = np.arange(steps - 1) * n + k
        pairs = sparse.csr_matrix(
            (
                np.tile([1.0, -1.0], steps - 1),
                (np.repeat(np.arange(steps - 1), 2), np.column_stack([first, first + n]).ravel()),
            ),
            shape=(steps - 1, steps * n),
        )
        rows.append(pairs)
    base_need = _base_replicas(members, replicas).T @ requests
    if base_need.any():
        guaranteed = np.array([c.covers[dims] * c.guaranteed for c in columns]).T
        rows.insert(0, sparse.kron(sparse.identity(steps), sparse.csr_matrix(-guaranteed)))
        b_cover = np.concatenate([b_cover, -base_need[:, dims].ravel()])
    a_ub = sparse.vstack([a_cover, *rows], format="csr")
    b_ub = np.concatenate([b_cover, np.zeros(len(committed) * (steps - 1))])
    cost = np.outer(hours, [c.usd_per_hour for c in columns]).ravel()
    upper = np.full((steps, n), np.inf)
    for k, c in enumerate(columns):
        if c.serverless_of is not None:
            upper[:, k] = replicas[c.serverless_of]
    bounds = np.column_stack([np.zeros(steps * n), upper.ravel()])
    # linprog takes bounds as an (n, 2) array too (scipy's docs); scipy-stubs know only pairs
    result = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")  # type: ignore[call-overload]
    if result.status != 0:
        names = ", ".join(w.name for w in members)
        raise ValueError(f"no fractional fleet covers the demand of {names}: {result.message}")
    return float(result.fun)
