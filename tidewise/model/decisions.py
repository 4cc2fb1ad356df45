"""Decisions as data: what a policy wants done. Adapters (twin or Kubernetes) carry them out."""

from __future__ import annotations

from dataclasses import dataclass

from tidewise.model.offering import Offering
from tidewise.model.resources import Resources


@dataclass(frozen=True, slots=True)
class ScaleTo:
    workload: str
    replicas: int


@dataclass(frozen=True, slots=True)
class Launch:
    """Buy ``count`` instances of ``offering``; ``size`` sizes a serverless container."""

    offering: Offering
    count: int = 1
    size: Resources | None = None


@dataclass(frozen=True, slots=True)
class Bind:
    pod: str
    node: str
    gpu_indices: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Drain:
    """Cordon the node, evict its pods (their controllers recreate them), then release it."""

    node: str
    reason: str


Decision = ScaleTo | Launch | Bind | Drain
