"""Lists that wait out the API server's "come back later".

Why: right after an API server (re)starts, each resource's watch cache initialises and a LIST
served from it is answered 429 "storage is (re)initializing" with a ``retryAfterSeconds``;
client-go retries such answers itself (up to 10 times, after the time the server names), and
lightkube does not. A one-shot read (``tidewise capture``) would otherwise fail on a server
that is about to answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lightkube import ApiError, Client

TOO_MANY_REQUESTS = 429
RETRIES = 10  # client-go's maximum for a 429 with Retry-After
DEFAULT_WAIT_S = 1.0


def listed(
    client: Client, resource: Any, sleep: Callable[[float], None] = time.sleep, **options: Any
) -> list[dict[str, Any]]:
    """Every object ``client.list(resource, **options)`` returns, as dicts; a 429 is asked
    again after the seconds the server names (1 s when it names none), up to 10 times."""
    retries = 0
    while True:
        try:
            return [o.to_dict() for o in client.list(resource, **options)]
        except ApiError as error:
            retries += 1
            if error.status.code != TOO_MANY_REQUESTS or retries > RETRIES:
                raise
            details = error.status.details
            wait = details.retryAfterSeconds if details else None
            sleep(float(wait) if wait else DEFAULT_WAIT_S)
