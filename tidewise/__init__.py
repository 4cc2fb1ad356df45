"""tidewise: elasticity and cost control for Kubernetes fleets that run AI products."""

__version__ = "0.1.0"
