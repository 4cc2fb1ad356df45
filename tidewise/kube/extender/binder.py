"""Bind: book the GPUs the engine chooses on the scheduler's node, record them on the pod,
and create the Binding.

Why the annotations go on before the Binding: once the pod is bound, its node's device plugin
may look for them at once (gpushare's does), and a crash between the two steps leaves an
unbound pod that the scheduler simply tries again; the other order could leave a bound pod
whose GPUs nobody recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from lightkube import ApiError, AsyncClient
from lightkube.core import resource
from lightkube.generic_resource import Generic
from lightkube.resources.core_v1 import Pod

from tidewise.kube.api.annotations import gpu_annotations
from tidewise.kube.api.resources import PodRequestError, is_managed, pod_request
from tidewise.kube.extender.protocol import BindingArgs
from tidewise.kube.extender.state import GpuShareBook, NoFit

log = logging.getLogger(__name__)


class PodBinding(resource.NamespacedSubResource, Generic):
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
        metadata={"name": args.pod_name, "namespace": args.namespace, "uid": args.uid},
        target={"apiVersion": "v1", "kind": "Node", "name": args.node},
    )


class Binder:
    """Carries out bind requests against the API server."""

    def __init__(
        self, client: AsyncClient, book: GpuShareBook, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.client = client
        self.book = book
        self.clock_ns = clock_ns

    async def bind(self, args: BindingArgs) -> str:
        """Bind the pod; the error to report to the scheduler, or ``""``."""
        try:
            pod = (await self.client.get(Pod, args.pod_name, namespace=args.namespace)).to_dict()
        except ApiError as error:
            return f"cannot read pod {args.namespace}/{args.pod_name}: {error}"
        if pod["metadata"].get("uid") != args.uid:
            return f"pod {args.namespace}/{args.pod_name} is not the one scheduled (uid changed)"
        try:
            managed = is_managed(pod)
        except PodRequestError as error:
            return str(error)
        if managed:
            try:
                shape = pod_request(pod)
                gpus = self.book.assume(args.uid, shape, args.node)
            except (PodRequestError, NoFit) as error:
                return str(error)
            annotations = gpu_annotations(
                shape, gpus, self.book.device_memory_mib(args.node), self.clock_ns()
            )
            try:
                await self.client.patch(
                    Pod,
                    args.pod_name,
                    {"metadata": {"annotations": annotations}},
                    namespace=args.namespace,
                )
            except ApiError as error:
                self.book.forget_pod(args.uid)
                return f"cannot record the GPUs on the pod: {error}"
        try:
            await self.client.create(binding(args), args.pod_name, namespace=args.namespace)
        except ApiError as error:
            self.book.forget_pod(args.uid)
            return f"cannot bind: {error}"
        log.info("bound %s/%s to %s", args.namespace, args.pod_name, args.node)
        return ""
