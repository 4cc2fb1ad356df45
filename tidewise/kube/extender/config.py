"""The ``extenders`` entry that points kube-scheduler at this extender.

Why in code: the test environment's scheduler, ``tidewise testenv up --extender`` and the
example in ``deploy/scheduler/`` must say the same thing; a test compares the example with
this function. Fields: ``k8s.io/kube-scheduler/config/v1`` ``Extender`` (research notes,
``kubernetes-testenv-and-anchors.md`` §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidewise.kube.api.resources import MANAGED_RESOURCES

WEIGHT = 20
"""Score x weight x 10 must beat every in-tree score plugin together (weights 1-3 each, 100
points each: about 1,300 at most), so that the engine's choice (scored 10) wins."""


def extender_stanza(url_prefix: str, tls: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One ``KubeSchedulerConfiguration.extenders`` entry for the extender at ``url_prefix``.

    ``tls``: the scheduler's ``tlsConfig`` (``certFile`` and ``keyFile``: the client
    certificate it presents; ``caFile``: the CA of the extender's serving certificate;
    ``serverName`` when the URL does not name it), which turns HTTPS on. Without it, plain HTTP:
    the extender serves that on a loopback address only.
    """
    stanza: dict[str, Any] = {
        "urlPrefix": url_prefix,
        "filterVerb": "filter",
        "prioritizeVerb": "prioritize",
        "bindVerb": "bind",
        "weight": WEIGHT,
        "enableHTTPS": tls is not None,
    }
    if tls is not None:
        stanza["tlsConfig"] = dict(tls)
    return stanza | {
        "httpTimeout": "5s",
        "nodeCacheCapable": True,
        "ignorable": False,  # unreachable: GPU-share pods wait (and say why), never mis-placed
        "managedResources": [
            {"name": name, "ignoredByScheduler": True} for name in MANAGED_RESOURCES
        ],
    }
