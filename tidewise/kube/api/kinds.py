"""The custom resources more than one component reads: the CronHPA (Alibaba's format, as
``tidewise.scaling.cron`` parses it) and tidewise's ElasticScaler, as lightkube generic
resources (their CRDs live in deploy/crds). The controllers reconcile them; ``capture``
reads them into a scenario's scaling settings."""

from __future__ import annotations

from lightkube.generic_resource import create_namespaced_resource

from tidewise.scaling.cron import API_VERSION as CRON_API_VERSION
from tidewise.scaling.cron import KIND as CRON_KIND

CRON_GROUP, CRON_VERSION = CRON_API_VERSION.split("/")
CronHpa = create_namespaced_resource(
    CRON_GROUP, CRON_VERSION, CRON_KIND, "cronhorizontalpodautoscalers"
)
ELASTIC_GROUP, ELASTIC_VERSION = "tidewise.io", "v1alpha1"
ELASTIC_API_VERSION = f"{ELASTIC_GROUP}/{ELASTIC_VERSION}"
ELASTIC_KIND = "ElasticScaler"
ElasticScalerResource = create_namespaced_resource(
    ELASTIC_GROUP, ELASTIC_VERSION, ELASTIC_KIND, "elasticscalers"
)
