"""Real-cluster adapters, and the control plane the end-to-end suite runs them against."""
