"""Active HTTP health checks of each cluster's entry point, all clusters at once."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor


def probe(url: str, timeout_s: float) -> bool:
    """Healthy means an answer below 400 within the timeout; anything else is a failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Prober:
    """Probes every URL in parallel, so one slow cluster never delays the verdict on another."""

    def __init__(self, urls: Mapping[str, str], timeout_s: float) -> None:
        self.urls = dict(urls)
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.urls)))

    def __call__(self) -> dict[str, bool]:
        futures = {c: self._pool.submit(probe, u, self.timeout_s) for c, u in self.urls.items()}
        return {c: f.result() for c, f in futures.items()}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
