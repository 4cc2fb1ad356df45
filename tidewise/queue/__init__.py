"""Training jobs: queues, GPU quotas, gang admission with a real fit check, priorities,
preemption, fair share and why each waiting job waits (pure; docs/queue.md)."""

from tidewise.queue.admission import DEFAULT_AGE_S, Ordering, QueuePolicy
from tidewise.queue.config import FlavorQuota, QueueConfig, whole_cluster_queue
from tidewise.queue.plan import Admit, Preempt, QueuePlan, QueueSnapshot, Waiting, WaitKind

__all__ = [
    "DEFAULT_AGE_S",
    "Admit",
    "FlavorQuota",
    "Ordering",
    "Preempt",
    "QueueConfig",
    "QueuePlan",
    "QueuePolicy",
    "QueueSnapshot",
    "WaitKind",
    "Waiting",
    "whole_cluster_queue",
]
