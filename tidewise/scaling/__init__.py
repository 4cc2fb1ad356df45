"""How many replicas and how big: Kubernetes' HPA, CronHPA, forecasts and right-sizing."""

from tidewise.scaling.fixed import FixedReplicas
from tidewise.scaling.hpa import HorizontalPodAutoscaler, HpaController

__all__ = ["FixedReplicas", "HorizontalPodAutoscaler", "HpaController"]
