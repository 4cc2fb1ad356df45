"""KServe ``InferenceService`` targets: what an autoscaler writes depends on the deployment mode.

Names and labels are KServe's (kserve/kserve ``pkg/constants/constants.go``):

* the mode, as KServe's controller reads it (``GetDeploymentMode`` in
  ``pkg/controller/v1beta1/inferenceservice/utils/utils.go``): ``status.deploymentMode`` (the
  mode KServe recorded, from v0.16), else the annotation ``serving.kserve.io/deploymentMode``,
  else the cluster's default (``inferenceservice-config``), which the operator cannot see: it
  assumes ``Serverless``, the default before v0.16 (the releases that record no status). v0.16
  renamed the modes (kserve/kserve#4608): ``RawDeployment`` is now ``Standard`` and
  ``Serverless`` is ``Knative``; both spellings are read. ``ModelMesh`` has no per-service
  replicas to scale and is refused;
* in raw (``Standard``) mode the predictor is a plain Deployment named ``<name>-predictor``
  (``PredictorServiceName``); its ``/scale`` is what KServe's own HPA would write, so the
  ElasticScaler writes it (set the InferenceService's ``serving.kserve.io/autoscalerClass``
  annotation to ``external`` so KServe creates no HPA of its own);
* in serverless (``Knative``) mode Knative's autoscaler owns the replica count and its
  activator buffers requests at zero: the ElasticScaler sets the predictor's ``minReplicas``
  (its decision, a floor Knative keeps warm) and ``maxReplicas`` (the scaler's
  ``maxReplicas``, a ceiling), which KServe writes as Knative's
  ``autoscaling.knative.dev/min-scale`` and ``max-scale``. Knative scales between them on
  concurrency; the floor is what the ElasticScaler reads back as the current count;
* the predictor's pods carry ``serving.kserve.io/inferenceservice=<name>`` and
  ``component=predictor`` in both modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import PatchType

from tidewise.kube.controllers.resources import group_of
from tidewise.kube.controllers.targets import ScaleState, Targets
from tidewise.scaling.cron import ScaleTargetRef

GROUP, VERSION, KIND = "serving.kserve.io", "v1beta1", "InferenceService"
InferenceService = create_namespaced_resource(GROUP, VERSION, KIND, "inferenceservices")
MODE_ANNOTATION = f"{GROUP}/deploymentMode"
RAW = ("RawDeployment", "Standard")  # before and since KServe v0.16
SERVERLESS = ("Serverless", "Knative")
POD_LABEL = f"{GROUP}/inferenceservice"
DEFAULT_MIN_REPLICAS = 1  # KServe's DefaultMinReplicas, when spec.predictor.minReplicas is unset


def is_inference_service(ref: ScaleTargetRef) -> bool:
    return group_of(ref.api_version) == GROUP and ref.kind == KIND


def predictor_name(name: str) -> str:
    """The predictor's Deployment (raw mode) and the prefix of its pods' names (both)."""
    return f"{name}-predictor"


class UnsupportedMode(ValueError):
    """An InferenceService whose mode has no replica count to scale (ModelMesh)."""


def deployment_mode(isvc: Mapping[str, Any]) -> str:
    """The mode as KServe names it: the status', the annotation's, or ``Serverless``."""
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    status = isvc.get("status") or {}
    return str(status.get("deploymentMode") or annotations.get(MODE_ANNOTATION) or SERVERLESS[0])


def predictor_deployment(name: str) -> ScaleTargetRef:
    return ScaleTargetRef("apps/v1", "Deployment", predictor_name(name))


def predictor_selector(name: str) -> str:
    return f"{POD_LABEL}={name},component=predictor"


def floor(isvc: Mapping[str, Any]) -> int:
    """The predictor's ``minReplicas``, KServe's default when unset."""
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    low = predictor.get("minReplicas")
    return DEFAULT_MIN_REPLICAS if low is None else int(low)


def floor_and_ceiling(low: int, high: int) -> dict[str, Any]:
    """The merge patch that sets the predictor's range (Knative's min-scale and max-scale)."""
    return {"spec": {"predictor": {"minReplicas": low, "maxReplicas": high}}}


class ServingTargets(Targets):
    """``Targets`` that also scale InferenceServices, through their predictor."""

    async def read(self, ref: ScaleTargetRef, namespace: str) -> ScaleState:
        if not is_inference_service(ref):
            return await super().read(ref, namespace)
        isvc = (await self.client.get(InferenceService, ref.name, namespace=namespace)).to_dict()
        mode = deployment_mode(isvc)
        if mode not in RAW + SERVERLESS:
            raise UnsupportedMode(
                f"InferenceService {ref.name}: deployment mode {mode} has no replicas to scale "
                f"(scaled: {', '.join(RAW + SERVERLESS)})"
            )
        if mode in RAW:
            state = await super().read(predictor_deployment(ref.name), namespace)
            return ScaleState(state.replicas, state.selector, mode)
        predictor = (isvc.get("spec") or {}).get("predictor") or {}
        high = predictor.get("maxReplicas")
        return ScaleState(floor(isvc), predictor_selector(ref.name), mode, high, floor_only=True)

    async def scale(
        self, ref: ScaleTargetRef, namespace: str, replicas: int, ceiling: int | None = None
    ) -> int:
        """As ``Targets.scale``; a serverless InferenceService gets ``replicas`` as its
        predictor's floor and ``ceiling`` as its maxReplicas (both left when already so)."""
        if not is_inference_service(ref):
            return await super().scale(ref, namespace, replicas)
        state = await self.read(ref, namespace)
        if not state.floor_only:
            return await super().scale(predictor_deployment(ref.name), namespace, replicas)
        high = max(ceiling or state.ceiling or replicas, replicas)
        if (state.replicas, state.ceiling) != (replicas, high):
            await self.client.patch(
                InferenceService,
                ref.name,
                floor_and_ceiling(replicas, high),
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        return state.replicas
