"""Leader election on a ``coordination.k8s.io/v1`` Lease, the mechanism every Kubernetes
controller uses, so it needs no CRD. Only the holder of the Lease acts; the others keep
trying to take it.

The algorithm is client-go's (``k8s.io/client-go/tools/leaderelection/leaderelection.go``,
``tryAcquireOrRenew``, ``renew``, ``release``), because its one rule is what keeps two
replicas from leading at once when their clocks disagree:

- a candidate never reads the holder's ``renewTime`` as a time. It remembers the record it
  last read and *when, by its own monotonic clock, the record last changed*
  (``observedTime``); it may take the Lease only after ``leaseDurationSeconds`` of its own
  time without seeing a change. A holder that renews changes the record every retry period,
  so no candidate ever sees it expire, whatever the clocks say;
- the holder renews every ``retry_s``; if no renewal has succeeded for ``renew_deadline_s``
  it stops leading (the caller stops acting) before any candidate may take over, since a
  candidate waits a whole ``duration_s`` > ``renew_deadline_s`` from the last change it saw;
- a holder that reads another holder in the Lease stops leading at once (client-go's
  ``IsLeader`` turns false at that read; its renew loop still waits for the deadline, which
  tidewise does not: acting on after seeing a successor is how two leaders buy twice);
- writes carry the resourceVersion read, so two candidates racing for the Lease cannot both
  win (one gets 409); on shutdown the holder releases the Lease (no holder, duration 1 s) so a
  successor need not wait.

Defaults are client-go's and kube-controller-manager's (lease 15 s, renew deadline 10 s,
retry 2 s). The tolerance is to clock *rate* differences, not offsets: as client-go's
package doc says, a ratio of lease duration to renew deadline of 1.5 tolerates one clock
running 1.5 times as fast as another. The loop that calls :class:`LeaseElector` is the
operator's (``tidewise.kube.operator.Operator.elect``).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

log = logging.getLogger(__name__)

LEASE_NAME = "tidewise-operator"
RENEW_DEADLINE_RATIO = 10 / 15  # client-go's defaults: lease 15 s, renew deadline 10 s
RETRY_RATIO = 2 / 15  # retry period 2 s


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _record(spec: LeaseSpec | None) -> tuple[Any, ...]:
    """What a candidate compares between two reads (client-go compares the raw record)."""
    spec = spec or LeaseSpec()
    stamps = tuple(t.timestamp() if t else None for t in (spec.acquireTime, spec.renewTime))
    return (spec.holderIdentity, spec.leaseDurationSeconds, spec.leaseTransitions, *stamps)


class LeaseElector:
    """Takes and renews the Lease ``namespace/name`` for ``identity``.

    ``wall`` stamps what is written (for people reading the Lease; no replica relies on it),
    ``monotonic`` measures everything that is decided; both are injectable for tests.
    """

    def __init__(
        self,
        client: AsyncClient,
        namespace: str,
        identity: str,
        name: str = LEASE_NAME,
        duration_s: float = 15.0,
        renew_deadline_s: float | None = None,
        retry_s: float | None = None,
        wall: Callable[[], datetime.datetime] = now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.namespace, self.identity, self.name = client, namespace, identity, name
        self.duration_s = duration_s
        self.renew_deadline_s = renew_deadline_s or duration_s * RENEW_DEADLINE_RATIO
        self.retry_s = retry_s or duration_s * RETRY_RATIO
        if not duration_s > self.renew_deadline_s > self.retry_s > 0:
            raise ValueError(
                f"lease {duration_s:g} s, renew deadline {self.renew_deadline_s:g} s, retry "
                f"{self.retry_s:g} s: each must be longer than the next (client-go's rule)"
            )
        self._wall, self._monotonic = wall, monotonic
        self._observed: tuple[Any, ...] | None = None
        self._observed_s = float("-inf")  # local time the observed record last changed
        self._renewed_s: float | None = None  # local time of this replica's last write

    @property
    def holder(self) -> str | None:
        """The holder in the record last read or written (``None``: nobody, or not read)."""
        return self._observed[0] if self._observed else None

    def leading(self) -> bool:
        """The record names this identity and it was written within the renew deadline."""
        if self.holder != self.identity or self._renewed_s is None:
            return False
        return self._monotonic() - self._renewed_s < self.renew_deadline_s

    def _observe(self, spec: LeaseSpec | None) -> None:
        record = _record(spec)
        if record != self._observed:
            self._observed, self._observed_s = record, self._monotonic()

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; whether this identity holds the Lease after it. API errors other than
        a lost race (409) propagate: the caller counts them and tries again."""
        stamp = self._wall()
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
            spec = LeaseSpec(
                holderIdentity=self.identity,
                leaseDurationSeconds=round(self.duration_s),
                acquireTime=stamp,
                renewTime=stamp,
                leaseTransitions=0,
            )
            fresh = Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)
            return await self._write(self.client.create(fresh), spec)
        spec = lease.spec or LeaseSpec()
        self._observe(spec)
        mine = spec.holderIdentity == self.identity
        if spec.holderIdentity and not mine:
            duration = spec.leaseDurationSeconds or self.duration_s
            if self._monotonic() < self._observed_s + duration:
                return False
            log.info(
                "taking the lease %s/%s from %r: no change seen for %g s",
                self.namespace,
                self.name,
                spec.holderIdentity,
                duration,
            )
        if not mine:
            spec.acquireTime = stamp
            spec.leaseTransitions = (spec.leaseTransitions or 0) + 1
        spec.holderIdentity, spec.renewTime = self.identity, stamp
        spec.leaseDurationSeconds = round(self.duration_s)
        lease.spec = spec
        return await self._write(self.client.replace(lease), spec)

    async def _write(self, request: Awaitable[Any], spec: LeaseSpec) -> bool:
        try:
            await request
        except ApiError as error:
            if error.status.code == 409:  # another candidate wrote first
                return False
            raise
        self._observe(spec)
        self._renewed_s = self._monotonic()
        return True

    async def release(self) -> None:
        """Give the Lease up, if this replica leads, so a successor takes it at once
        (client-go's release: no holder, a one-second duration)."""
        if not self.leading():
            return
        lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        if lease.spec is None or lease.spec.holderIdentity != self.identity:
            return
        stamp = self._wall()
        lease.spec.holderIdentity = None
        lease.spec.leaseDurationSeconds = 1
        lease.spec.acquireTime = lease.spec.renewTime = stamp
        await self.client.replace(lease)
        self._observe(lease.spec)
        self._renewed_s = None
        log.info("released the lease %s/%s", self.namespace, self.name)
