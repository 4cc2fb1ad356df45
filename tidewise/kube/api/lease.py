"""Leader election on a ``coordination.k8s.io/v1`` Lease, the mechanism every Kubernetes
controller uses, so it needs no CRD. Only the holder of the Lease acts; the others keep
trying to take it.

Kept small:

- a candidate takes the Lease when it is absent, released (no holder), or not renewed for
  ``leaseDurationSeconds`` (compared with the Lease's ``renewTime``, so clocks are taken to be
  roughly in sync, as client-go's elector does with its observed times);
- the holder renews every ``renew_s`` (a third of the duration); writes carry the
  resourceVersion read, so two candidates racing for the Lease cannot both win (one gets 409);
- a holder that fails to renew steps down at once (stops its rounds), before another may take
  the Lease; on shutdown it releases the Lease so a successor need not wait.

The renewal loop that calls :class:`LeaseElector` is the operator's
(``tidewise.kube.operator.Operator.elect``).
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

log = logging.getLogger(__name__)

LEASE_NAME = "tidewise-operator"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaseElector:
    """Takes and renews the Lease ``namespace/name`` for ``identity``."""

    def __init__(
        self,
        client: AsyncClient,
        namespace: str,
        identity: str,
        name: str = LEASE_NAME,
        duration_s: int = 15,
    ) -> None:
        self.client, self.namespace, self.identity, self.name = client, namespace, identity, name
        self.duration_s = duration_s

    async def acquire_or_renew(self) -> bool:
        """Whether this identity holds the Lease after the call."""
        stamp = now()
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
            spec = LeaseSpec(
                holderIdentity=self.identity,
                leaseDurationSeconds=self.duration_s,
                acquireTime=stamp,
                renewTime=stamp,
                leaseTransitions=0,
            )
            fresh = Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)
            return await self._write(self.client.create(fresh))
        spec = lease.spec or LeaseSpec()
        mine = spec.holderIdentity == self.identity
        if spec.holderIdentity and not mine:
            expiry = (spec.renewTime or stamp) + datetime.timedelta(
                seconds=spec.leaseDurationSeconds or self.duration_s
            )
            if expiry > stamp:
                return False
        if not mine:
            spec.acquireTime = stamp
            spec.leaseTransitions = (spec.leaseTransitions or 0) + 1
            log.info(
                "taking the lease %s/%s from %r", self.namespace, self.name, spec.holderIdentity
            )
        spec.holderIdentity, spec.renewTime = self.identity, stamp
        spec.leaseDurationSeconds = self.duration_s
        lease.spec = spec
        return await self._write(self.client.replace(lease))

    async def _write(self, request: Any) -> bool:
        try:
            await request
        except ApiError as error:
            if error.status.code == 409:  # another candidate wrote first
                return False
            raise
        return True

    async def release(self) -> None:
        """Give the Lease up, if held, so a successor takes it at once."""
        lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        if lease.spec and lease.spec.holderIdentity == self.identity:
            lease.spec.holderIdentity = None
            await self.client.replace(lease)
            log.info("released the lease %s/%s", self.namespace, self.name)
