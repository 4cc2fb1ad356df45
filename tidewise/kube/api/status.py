"""Status conventions every controller follows: RFC 3339 stamps to the second (the API
server's ``date-time``) and Kubernetes' condition rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

STAMP = "%Y-%m-%dT%H:%M:%SZ"


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime(STAMP)


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, STAMP).replace(tzinfo=UTC)


def unix_s(at: str | datetime | None) -> float | None:
    """An API object's time (a ``datetime`` from a typed object, RFC 3339 text from a dict)
    as Unix seconds; ``None`` when absent."""
    if isinstance(at, datetime):
        return at.timestamp()
    return datetime.fromisoformat(at).timestamp() if at else None


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
