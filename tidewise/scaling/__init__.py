"""How many replicas each service needs (pure policies)."""

from tidewise.scaling.fixed import FixedReplicas
from tidewise.scaling.hpa import HorizontalPodAutoscaler

__all__ = ["FixedReplicas", "HorizontalPodAutoscaler"]
