"""Which replica binds: the holder of a Lease (``tidewise.kube.api.lease``), when there are
several.

Why: each replica keeps its own books. Two replicas binding at once could each book the same
free GPU for a different pod, and neither would know until the device plugin found the GPU
taken twice. So only the leader binds; a standby keeps its books in step (the same list and
watch) and answers filter and prioritize from them, but refuses bind, which kube-scheduler
counts as a failed binding and retries. The leader checks it still leads just before each
Binding, and a replica that cannot renew the Lease steps down at once (the elector's rule).

Traffic goes to the leader alone: with ``pod`` given (the Deployment passes its own name and
namespace), the replica labels its pod ``tidewise.io/extender-role: leader`` or ``standby`` as
its role changes, and deploy/extender's Service selects ``leader`` (the pattern Patroni uses
for a PostgreSQL primary's Service). Both replicas stay Ready, so a rollout proceeds; a standby
closes every connection it answers, so kube-scheduler's next request opens a new one, which the
Service routes to the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod

from tidewise.kube.api.lease import LeaseElector
from tidewise.kube.extender.metrics import ExtenderMetrics

log = logging.getLogger(__name__)

ROLE_LABEL = "tidewise.io/extender-role"
LEASE_NAME = "tidewise-extender"


class Leadership:
    """Whether this replica binds now: always without an elector, else while it holds the
    Lease."""

    def __init__(
        self,
        metrics: ExtenderMetrics,
        elector: LeaseElector | None = None,
        client: AsyncClient | None = None,
        pod: tuple[str, str] | None = None,
    ) -> None:
        self.metrics, self.elector, self.client, self.pod = metrics, elector, client, pod
        self.leading = elector is None
        self._labelled: str | None = None
        metrics.leader.set(1 if self.leading else 0)

    def __call__(self) -> bool:
        return self.leading

    async def run(self) -> None:
        """Acquire or renew every retry period (client-go's: 2 s of a 15 s Lease) until
        cancelled; label the pod with the role each time it differs; release the Lease on the
        way out. A failed renewal stands the replica down at once: two binders must never
        book the same GPU."""
        if self.elector is None:
            await self._label()
            return
        try:
            while True:
                try:
                    leading = await self.elector.try_acquire_or_renew()
                except Exception as error:  # the API server is away: not leading
                    log.warning("lease renewal failed: %s", error)
                    leading = False
                if leading != self.leading:
                    log.info("%s as %s", "leading" if leading else "standing by", self.identity)
                self.leading = leading
                self.metrics.leader.set(1 if leading else 0)
                await self._label()
                await asyncio.sleep(self.elector.retry_s)
        finally:
            if self.leading:
                self.leading = False
                self.metrics.leader.set(0)
                with contextlib.suppress(Exception):
                    await self.elector.release()

    @property
    def identity(self) -> str:
        return self.elector.identity if self.elector else "the only replica"

    async def _label(self) -> None:
        """Label the pod with the role, if asked and if it changed; best effort (retried at the
        next renewal)."""
        role = "leader" if self.leading else "standby"
        if self.pod is None or self.client is None or role == self._labelled:
            return
        namespace, name = self.pod
        try:
            await self.client.patch(
                Pod, name, {"metadata": {"labels": {ROLE_LABEL: role}}}, namespace=namespace
            )
        except Exception as error:
            log.warning("cannot label pod %s/%s %s: %s", namespace, name, role, error)
            return
        self._labelled = role
