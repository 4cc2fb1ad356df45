"""A GPU reservation: the GPUs the defragmenter freed on a node, held for the pod it freed
them for until that pod binds or the reservation expires.

Why an annotation on the Node: the defragmenter writes it and the scheduler extender honours
it, two processes that may restart at any time; the API is the one place both read, so a
reservation outlives either (state that must survive a restart lives in the API). Why
needed: eviction frees the GPUs at once, but the waiting pod binds only when kube-scheduler
tries it again (after its back-off), while the evicted pods' controllers recreate them at
once; without a hold the recreated share pods, placed by the tightest-gap rule, may land on
the very GPUs freed and undo the move.

The value is JSON: ``{"pod": "<namespace>/<name>", "uid": "<pod uid>", "gpus": [0, 1],
"until": "<RFC 3339>"}``, one reservation per node. A value that does not parse is no
reservation (and is logged): a hold that cannot be read must not block a node forever.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidewise.kube.api.status import unix_s

log = logging.getLogger(__name__)

RESERVATION = "tidewise.io/gpu-reservation"
"""The Node annotation that holds a reservation (module docstring)."""


@dataclass(frozen=True, slots=True)
class GpuReservation:
    """GPUs ``gpus`` of one node held for the pod ``uid`` (``pod``: namespace/name) until
    ``until`` (Unix seconds)."""

    pod: str
    uid: str
    gpus: tuple[int, ...]
    until: float

    def expired(self, now: float) -> bool:
        return now >= self.until


def reservation_of(node: Mapping[str, Any]) -> GpuReservation | None:
    """The node's reservation, ``None`` when it has none or one that does not parse."""
    meta = node.get("metadata") or {}
    text = (meta.get("annotations") or {}).get(RESERVATION)
    if not text:
        return None
    try:
        value = json.loads(text)
        gpus = tuple(int(g) for g in value["gpus"])
        until = unix_s(value["until"])
        if until is None or any(g < 0 for g in gpus):
            raise ValueError("no expiry or a negative GPU index")
        return GpuReservation(str(value["pod"]), str(value["uid"]), gpus, until)
    except (ValueError, TypeError, KeyError) as error:
        log.warning(
            "node %s: unreadable %s %r (%s): ignored", meta.get("name"), RESERVATION, text, error
        )
        return None


def reservation_patch(reservation: GpuReservation | None) -> dict[str, Any]:
    """A merge patch that sets the node's reservation, or removes it (``None``)."""
    value = None
    if reservation is not None:
        until = datetime.datetime.fromtimestamp(reservation.until, datetime.UTC)
        value = json.dumps(
            {
                "pod": reservation.pod,
                "uid": reservation.uid,
                "gpus": list(reservation.gpus),
                "until": until.isoformat(timespec="seconds").replace("+00:00", "Z"),
            }
        )
    return {"metadata": {"annotations": {RESERVATION: value}}}
