"""tidewise's catalog as the instance types of Karpenter's kwok cloud provider.

Why: in the test environment Karpenter buys from a list that tidewise writes, so the twin and
the cluster price the same machines identically: same names, zones, on-demand and spot prices,
vCPUs, memory and GPUs. The format is what ``kwok.ConstructInstanceTypes`` reads from
``INSTANCE_TYPES_FILE_PATH`` in ``sigs.k8s.io/karpenter`` v1.12.0
(``kwok/cloudprovider/helpers.go``): a JSON list of ``{name, offerings, architecture,
operatingSystems, resources}``, each offering ``{Price, Available, Requirements}`` with
requirements on ``karpenter.sh/capacity-type`` and ``topology.kubernetes.io/zone`` (the
embedded ``kwok/cloudprovider/instance_types.json`` uses these keys; the older spelling in
``kwok/examples/instance_types.json``, ``capacityType``/``zone``, is no longer read).

Only on-demand and spot offerings are listed. A commitment (reserved instance, savings plan)
is a discount on on-demand usage, not separate capacity, so it is a price adjustment
(:mod:`tidewise.capacity.karpenter.overlays`), and serverless is not a node Karpenter buys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tidewise.model import InstanceType, Offering, PurchaseOption

CAPACITY_TYPE = "karpenter.sh/capacity-type"
ZONE = "topology.kubernetes.io/zone"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
NVIDIA_GPU = "nvidia.com/gpu"
KARPENTER_OPTIONS = (PurchaseOption.ON_DEMAND, PurchaseOption.SPOT)
"""The purchase options that are capacity Karpenter buys (its capacity-type values)."""


def cpu_quantity(milli: int) -> str:
    """Millicores as Kubernetes writes them: whole cores bare (``"4"``), else ``"500m"``."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def resources(instance_type: InstanceType) -> dict[str, str]:
    """The node's capacity: what the kwok provider puts on the Node it creates."""
    capacity = instance_type.capacity
    listed = {"cpu": cpu_quantity(capacity.cpu_milli), "memory": f"{capacity.memory_mib}Mi"}
    if capacity.gpu_count:
        listed[NVIDIA_GPU] = str(capacity.gpu_count)
    return listed


def requirement(key: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


def kwok_instance_types(
    offerings: Iterable[Offering], architecture: str = "amd64"
) -> list[dict[str, Any]]:
    """One entry per instance type of ``offerings``, in name order, with its on-demand and
    spot offerings in (zone, capacity type) order.

    ``architecture`` is the ``kubernetes.io/arch`` of every type: the catalog does not record
    it (the SkyPilot reader ignores the ``Arch`` column), and every type of the builtin
    catalog is x86_64.
    """
    by_type: dict[str, list[Offering]] = {}
    shapes: dict[str, InstanceType] = {}
    for offering in offerings:
        if offering.option in KARPENTER_OPTIONS:
            by_type.setdefault(offering.instance_type.name, []).append(offering)
            shapes[offering.instance_type.name] = offering.instance_type
    return [
        {
            "name": name,
            "offerings": [
                {
                    "Price": o.price_per_hour,
                    "Available": True,
                    "Requirements": [
                        requirement(CAPACITY_TYPE, o.option.value),
                        requirement(ZONE, o.zone),
                    ],
                }
                for o in sorted(by_type[name], key=lambda o: (o.zone, o.option.value))
            ],
            "architecture": architecture,
            "operatingSystems": ["linux"],
            "resources": resources(shapes[name]),
        }
        for name in sorted(by_type)
    ]
