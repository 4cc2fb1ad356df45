"""Machine records: what a provider has bought, written before it buys.

Why: a kwok machine boots inside the provisioner's process, and a cloud's inventory may lag
its launches; a record kept only in memory dies with the process, and a successor (a restart,
another replica taking the Lease) would buy the same capacity again. Karpenter's answer is a
NodeClaim written before the launch; tidewise's is a cluster-scoped ``Machine``
(``tidewise.io/v1alpha1``, deploy/crds/machines.yaml): intent first, then the machine, and the
record goes when the machine is given back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lightkube.generic_resource import create_global_resource

from tidewise.kube.api.status import parse_stamp, stamp

Machine = create_global_resource("tidewise.io", "v1alpha1", "Machine", "machines")


def machine_record(
    name: str, provider: str, offering: str, launched_s: float, labels: Mapping[str, str]
) -> Any:
    """The record of ``name``, an ``offering`` (catalog key) asked of ``provider`` at
    ``launched_s`` (Unix time)."""
    launched = stamp(datetime.fromtimestamp(launched_s, UTC))
    return Machine.from_dict(
        {
            "apiVersion": "tidewise.io/v1alpha1",
            "kind": "Machine",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"provider": provider, "offering": offering, "launchedAt": launched},
        }
    )


def launched_s(record: Any) -> float:
    """When the record's launch was asked for (Unix time)."""
    return parse_stamp(record.spec["launchedAt"]).timestamp()
