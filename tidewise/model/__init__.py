"""Value types shared by every layer; imports nothing else of ours."""

from tidewise.model.cluster import Node, NodeState, Pod, PodPhase
from tidewise.model.decisions import Bind, Decision, Drain, Launch, ScaleTo
from tidewise.model.job import DEFAULT_QUEUE, Job, JobPhase, JobSpec
from tidewise.model.offering import Billing, InstanceType, Offering, PurchaseOption
from tidewise.model.policy import Controller, Resting, rests_until
from tidewise.model.resources import (
    MILLI_PER_GPU,
    Resources,
    parse_cpu,
    parse_duration,
    parse_memory,
)
from tidewise.model.view import ClusterView
from tidewise.model.workload import GUARANTEED, CapacityRules, WorkloadSpec, WorkloadStatus

__all__ = [
    "DEFAULT_QUEUE",
    "GUARANTEED",
    "MILLI_PER_GPU",
    "Billing",
    "Bind",
    "CapacityRules",
    "ClusterView",
    "Controller",
    "Decision",
    "Drain",
    "InstanceType",
    "Job",
    "JobPhase",
    "JobSpec",
    "Launch",
    "Node",
    "NodeState",
    "Offering",
    "Pod",
    "PodPhase",
    "PurchaseOption",
    "Resources",
    "Resting",
    "ScaleTo",
    "WorkloadSpec",
    "WorkloadStatus",
    "parse_cpu",
    "parse_duration",
    "parse_memory",
    "rests_until",
]
