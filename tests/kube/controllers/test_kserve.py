"""KServe's naming and modes, as the ElasticScaler reads them."""

from tidewise.kube.controllers.kserve import (
    deployment_mode,
    floor,
    is_inference_service,
    predictor_deployment,
    predictor_selector,
)
from tidewise.scaling.cron import ScaleTargetRef


def test_the_mode_is_the_status_then_the_annotation_then_serverless():
    # KServe's own order (GetDeploymentMode): the mode it recorded wins over a later annotation
    recorded = {
        "metadata": {"annotations": {"serving.kserve.io/deploymentMode": "Knative"}},
        "status": {"deploymentMode": "Standard"},
    }
    assert deployment_mode(recorded) == "Standard"
    annotated = {"serving.kserve.io/deploymentMode": "RawDeployment"}
    assert deployment_mode({"metadata": {"annotations": annotated}}) == "RawDeployment"
    assert deployment_mode({"metadata": {"annotations": {}}}) == "Serverless"


def test_the_predictor_is_named_and_labelled_as_kserve_does():
    assert predictor_deployment("chat") == ScaleTargetRef("apps/v1", "Deployment", "chat-predictor")
    assert (
        predictor_selector("chat") == "serving.kserve.io/inferenceservice=chat,component=predictor"
    )


def test_an_unset_floor_is_kserves_default_of_one():
    assert floor({"spec": {"predictor": {}}}) == 1
    assert floor({"spec": {"predictor": {"minReplicas": 0}}}) == 0


def test_only_serving_kserve_io_inference_services_are_recognised():
    assert is_inference_service(
        ScaleTargetRef("serving.kserve.io/v1beta1", "InferenceService", "x")
    )
    assert not is_inference_service(
        ScaleTargetRef("serving.kubeflow.org/v1beta1", "InferenceService", "x")
    )
    assert not is_inference_service(ScaleTargetRef("apps/v1", "Deployment", "x"))
