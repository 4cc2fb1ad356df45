"""Bind: book the GPUs the engine chooses on the scheduler's node, record them on the pod,
and create the Binding.

Where HAMi's device plugin has registered the node (``hami.io/node-nvidia-register``), HAMi's
own pod annotations go on in the same patch (api.hami), so either plugin can follow the
decision.

Why the annotations go on before the Binding: once the pod is bound, its node's device plugin
may look for them at once (gpushare's does), and a crash between the two steps leaves an
unbound pod that the scheduler simply tries again; the other order could leave a bound pod
whose GPUs nobody recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.core import resource
from lightkube.generic_resource import Generic
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod

from tidewise.kube.api.annotations import gpu_annotations
from tidewise.kube.api.hami import HamiError, hami_metadata, pod_devices, registered_gpus
from tidewise.kube.api.resources import PodRequestError, is_managed, pod_request
from tidewise.kube.extender.metrics import ExtenderMetrics
from tidewise.kube.extender.protocol import BindingArgs
from tidewise.kube.extender.state import GpuShareBook, NoFit

log = logging.getLogger(__name__)

BIND_DEADLINE_S = 10.0
"""The most one bind may take (kube-scheduler's own ``httpTimeout`` is 5 s in deploy/): a
bind past it is abandoned and its booking freed; ``state.ASSUME_TTL_S`` is three times this."""
NOT_LEADER = "this GPU-share extender replica is not the leader; kube-scheduler will retry"


# lightkube's own generic subresources pair these two bases the same way; their apiVersion and
# kind (attributes in one, properties over the mapping in the other) disagree only in type
class PodBinding(resource.NamespacedSubResource, Generic):  # type: ignore[misc]
    """``pods/<name>/binding``, its reply read as a plain mapping.

    Why not lightkube's ``Pod.Binding``: the API server answers a Binding create with a
    ``Status`` (``{"kind": "Status", "status": "Success", "code": 201}``), not the Binding, and
    the typed class fails to read that reply after the pod was bound; the scheduler was then
    told that every successful bind had failed. A 2xx reply is success; an error status is an
    :class:`ApiError` as for any call.
    """

    _api_info = resource.ApiInfo(
        resource=resource.ResourceDef("", "v1", "Binding"),
        parent=resource.ResourceDef("", "v1", "Pod"),
        plural="pods",
        verbs=["post"],
        action="binding",
    )


def binding(args: BindingArgs) -> PodBinding:
    """The Binding of the pod to the node, with the pod's UID as a precondition."""
    return PodBinding(
        apiVersion="v1",
        kind="Binding",
        metadata=ObjectMeta(name=args.pod_name, namespace=args.namespace, uid=args.uid),
        target={"apiVersion": "v1", "kind": "Node", "name": args.node},
    )


class BindFailure(Exception):
    """A bind that cannot be carried out: ``reason`` for the metrics, the text for the
    scheduler."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Binder:
    """Carries out bind requests against the API server, while ``leading()``.

    Every failure, whatever raised it (an API error, a dropped connection, the deadline),
    frees the GPUs this bind booked and is answered as an error, so kube-scheduler forgets the
    pod and tries it again; nothing booked by a failed bind outlives it.
    """

    def __init__(
        self,
        client: AsyncClient,
        book: GpuShareBook,
        metrics: ExtenderMetrics,
        leading: Callable[[], bool] = lambda: True,
        clock_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
        hami: bool = True,
    ) -> None:
        self.client, self.book, self.metrics = client, book, metrics
        self.leading, self.clock_ns, self.monotonic = leading, clock_ns, monotonic
        self.hami = hami  # write HAMi's annotations where its device plugin registered

    async def bind(self, args: BindingArgs) -> str:
        """Bind the pod; the error to report to the scheduler, or ``""``."""
        try:
            async with asyncio.timeout(BIND_DEADLINE_S):
                await self._bind(args)
        except BindFailure as failure:
            return self._failed(args, failure.reason, str(failure))
        except TimeoutError:
            return self._failed(args, "timeout", f"bind took over {BIND_DEADLINE_S:g} s")
        except Exception as error:  # the Binding's outcome is unknown: the watch will tell
            return self._failed(args, "binding", f"cannot bind: {error}")
        log.info("bound %s/%s to %s", args.namespace, args.pod_name, args.node)
        return ""

    def _failed(self, args: BindingArgs, reason: str, message: str) -> str:
        self.metrics.bind_failures.labels(reason=reason).inc()
        log.warning("bind of %s/%s failed: %s", args.namespace, args.pod_name, message)
        return message

    def _check_leading(self) -> None:
        if not self.leading():
            raise BindFailure("not_leader", NOT_LEADER)

    async def _bind(self, args: BindingArgs) -> None:
        self._check_leading()
        try:
            pod = (await self.client.get(Pod, args.pod_name, namespace=args.namespace)).to_dict()
        except ApiError as error:
            raise BindFailure(
                "pod_read", f"cannot read pod {args.namespace}/{args.pod_name}: {error}"
            ) from None
        if pod["metadata"].get("uid") != args.uid:
            raise BindFailure(
                "pod_changed",
                f"pod {args.namespace}/{args.pod_name} is not the one scheduled (uid changed)",
            )
        booked = False
        try:
            booked = await self._book(args, pod)
            self._check_leading()  # the Lease may have moved while the annotations went on
            await self.client.create(binding(args), args.pod_name, namespace=args.namespace)
        except BaseException:
            if booked:
                self.book.forget_pod(args.uid)
            raise

    async def _book(self, args: BindingArgs, pod: dict[str, Any]) -> bool:
        """Book the pod's GPUs and record them on it; whether this call booked anything (a
        bind asked again finds its GPUs already booked)."""
        try:
            if not is_managed(pod):
                return False
            shape = pod_request(pod)
            fresh = args.uid not in self.book.holdings
            gpus = self.book.assume(args.uid, shape, args.node, now=self.monotonic())
        except PodRequestError as error:
            raise BindFailure("bad_request", str(error)) from None
        except NoFit as error:
            raise BindFailure("no_fit", str(error)) from None
        metadata = {
            "annotations": gpu_annotations(
                shape, gpus, self.book.device_memory_mib(args.node), self.clock_ns()
            )
        }
        try:
            for part, values in self._hami(args, pod, gpus).items():
                metadata[part] = metadata.get(part, {}) | values
        except (HamiError, PodRequestError) as error:
            if fresh:
                self.book.forget_pod(args.uid)
            raise BindFailure("hami", str(error)) from None
        try:
            await self.client.patch(
                Pod, args.pod_name, {"metadata": metadata}, namespace=args.namespace
            )
        except ApiError as error:
            if fresh:
                self.book.forget_pod(args.uid)
            raise BindFailure("annotate", f"cannot record the GPUs on the pod: {error}") from None
        return fresh

    def _hami(
        self, args: BindingArgs, pod: dict[str, Any], gpus: tuple[int, ...]
    ) -> dict[str, dict[str, str]]:
        """HAMi's annotations and label for the pod (api.hami), beside gpushare's, when the
        node carries HAMi's register annotation and a container asks for ``nvidia.com/gpu``;
        else none.
        :class:`HamiError` when the register cannot be read or lacks a GPU chosen: the bind
        fails naming the node, rather than tell HAMi's plugin a wrong GPU or none."""
        text = self.book.hami_registers.get(args.node)
        if not self.hami or text is None or not gpus:
            return {}
        devices = pod_devices(pod, gpus, registered_gpus(args.node, text), args.node)
        if devices is None:
            return {}
        return hami_metadata(devices, args.node, self.clock_ns() // 1_000_000_000)
