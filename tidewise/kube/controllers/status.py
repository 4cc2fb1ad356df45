"""Status conventions the controllers follow: RFC 3339 stamps to the second (the API
server's ``date-time``), Kubernetes' condition rule, and Events on their objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient

from tidewise.kube.provider.events import event, record

STAMP = "%Y-%m-%dT%H:%M:%SZ"
COMPONENT = "tidewise-operator"


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime(STAMP)


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, STAMP).replace(tzinfo=UTC)


def set_condition(
    conditions: list[dict[str, Any]], type_: str, ok: bool, reason: str, message: str, at: str
) -> list[dict[str, Any]]:
    """Kubernetes' rule: ``lastTransitionTime`` moves only when ``status`` does."""
    status = "True" if ok else "False"
    old = next((c for c in conditions if c.get("type") == type_), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status else at
    new = {"type": type_, "status": status, "reason": reason, "message": message}
    new["lastTransitionTime"] = since
    return [c for c in conditions if c.get("type") != type_] + [new]


async def tell(
    client: AsyncClient, obj: Mapping[str, Any], reason: str, message: str, warning: bool = False
) -> None:
    """An Event on one of the controllers' objects, where ``kubectl describe`` shows what it
    did (the HPA's ``SuccessfulRescale`` and the like); never raises."""
    meta = obj["metadata"]
    told = event(
        obj.get("kind", ""),
        meta["name"],
        meta["namespace"],
        reason,
        message,
        warning,
        api_version=obj.get("apiVersion", ""),
        component=COMPONENT,
    )
    await record(client, told)
