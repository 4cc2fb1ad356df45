"""Allocate and its hint: find the container (:mod:`.matching`), read its share
(:mod:`.share`), build its environment (:mod:`.environment`).

Why the pods and the kubelet's listing come in as functions: the plugin reads them fresh at
every call (a cached watch could miss the pod the kubelet is admitting right now), and tests
give them directly.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from tidewise.kube.api.gpu import Gpu
from tidewise.kube.deviceplugin import devices
from tidewise.kube.deviceplugin.environment import ContainerEnvironment, Isolation, environment
from tidewise.kube.deviceplugin.health import DAEMON_DOWN, GpuHealth
from tidewise.kube.deviceplugin.matching import KubeletView, candidates, names
from tidewise.kube.deviceplugin.share import ContainerShare, ShareError, share_of

log = logging.getLogger(__name__)

PodSource = Callable[[], Awaitable[Sequence[Mapping[str, Any]]]]
"""The pods bound to this node, read from the API server now."""
KubeletSource = Callable[[], Awaitable[KubeletView | None]]

REMEMBERED = 4096  # allocations whose GPUs PreStartContainer can look up


class AllocationError(Exception):
    """Allocate must fail; the message names the pod(s) and says why."""


class Allocator:
    def __init__(
        self,
        gpus: Sequence[Gpu],
        isolation: Isolation,
        pods: PodSource,
        kubelet: KubeletSource,
        health: GpuHealth,
    ) -> None:
        self.gpus, self.isolation, self.health = list(gpus), isolation, health
        self._pods, self._kubelet = pods, kubelet
        self._given: OrderedDict[frozenset[str], tuple[int, ...]] = OrderedDict()

    async def find(self, resource: str, count: int) -> ContainerShare:
        """The share of the container being given ``count`` devices of ``resource``."""
        try:
            pods = await self._pods()
        except Exception as error:
            raise AllocationError(f"cannot list this node's pods: {error}") from None
        found = candidates(pods, await self._kubelet(), resource, count)
        if not found:
            raise AllocationError(
                f"no pod bound to this node waits for {count} {resource} in a container "
                "(is it bound here, through the GPU-share extender?)"
            )
        shares = []
        for candidate in found:
            try:
                shares.append(share_of(candidate.pod, candidate.container, len(self.gpus)))
            except ShareError as error:
                if len(found) == 1:
                    raise AllocationError(str(error)) from None
                raise AllocationError(
                    f"cannot tell which of pods {names(found)} asks for {count} {resource}, "
                    f"and one is unreadable: {error}"
                ) from None
        if any(_limits(s) != _limits(shares[0]) for s in shares[1:]):
            raise AllocationError(
                f"cannot tell which of pods {names(found)} asks for {count} {resource} now, "
                "and their shares differ (is the kubelet's PodResources API reachable?)"
            )
        return shares[0]

    async def allocate(self, resource: str, ids: Sequence[str]) -> ContainerEnvironment:
        share = await self.find(resource, len(ids))
        for index in share.gpus:
            broken = self.health.problems(index) - {DAEMON_DOWN}  # a daemon restarts
            if broken:
                raise AllocationError(
                    f"pod {share.pod}: GPU {index} is unhealthy ({', '.join(sorted(broken))})"
                )
        try:
            env = environment(share, self.gpus, self.isolation)
        except ShareError as error:
            raise AllocationError(str(error)) from None
        self._given[frozenset(ids)] = share.gpus
        while len(self._given) > REMEMBERED:
            self._given.popitem(last=False)
        log.info(
            "%s %s/%s: GPUs %s, %s", resource, share.pod, share.container, share.gpus, env.envs
        )
        return env

    async def preferred(
        self, resource: str, available: Sequence[str], must: Sequence[str], size: int
    ) -> list[str]:
        """The devices to hand out: those of the GPUs the extender chose, when the container
        can be told (otherwise any: Allocate will say what is wrong)."""
        try:
            gpus: tuple[int, ...] = (await self.find(resource, size)).gpus
        except AllocationError:
            gpus = ()
        return devices.preferred(available, must, size, gpus)

    def gpus_given(self, ids: Sequence[str]) -> tuple[int, ...]:
        """The GPUs of the Allocate that handed out ``ids``; if forgotten (the plugin
        restarted since), the GPUs the IDs belong to."""
        key = frozenset(ids)
        if key in self._given:
            return self._given[key]
        return tuple(sorted({devices.gpu_of(i) for i in ids}))


def _limits(share: ContainerShare) -> tuple[Any, ...]:
    return (share.gpus, share.memory_mib, share.cores_percent, share.whole)
