"""How many replicas and how big: Kubernetes' HPA, CronHPA, forecasts and right-sizing."""

from tidewise.scaling.hpa import HorizontalPodAutoscaler

__all__ = ["HorizontalPodAutoscaler"]
