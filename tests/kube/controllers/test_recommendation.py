"""ResourceRecommendation's spec reading and the OnRollout rule, without a cluster."""

import re

import pytest

from tidewise.kube.controllers.recommendation import (
    SpecError,
    estimate_status,
    needs_update,
    read_spec,
)
from tidewise.scaling.rightsizing import Estimate, Recommendation


def obj(**spec):
    target = {"kind": "Deployment", "name": "web"}
    return {"spec": {"targetRef": target, **spec}}


def test_container_policies_are_read_in_millicores_and_mib():
    spec = read_spec(
        obj(
            updateMode="OnRollout",
            containerPolicies=[
                {
                    "containerName": "main",
                    "minAllowed": {"cpu": "100m"},
                    "maxAllowed": {"memory": "2Gi"},
                }
            ],
        )
    )
    policy = spec.policies["main"]
    assert (policy.min_cpu_milli, policy.max_memory_mib) == (100, 2048)
    assert spec.on_rollout and spec.prometheus is None


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"targetRef": {"kind": "DaemonSet", "name": "x"}}, "spec.targetRef.kind"),
        ({"targetRef": {"kind": "Deployment"}}, "spec.targetRef.name"),
        (obj(updateMode="Auto")["spec"], "spec.updateMode"),
        (
            obj(containerPolicies=[{"containerName": "m", "minAllowed": {"cpu": "lots"}}])["spec"],
            "spec.containerPolicies[0].minAllowed.cpu",
        ),
        (
            obj(
                containerPolicies=[
                    {"containerName": "m", "minAllowed": {"cpu": "2"}, "maxAllowed": {"cpu": "1"}}
                ]
            )["spec"],
            "spec.containerPolicies[0]",
        ),
    ],
)
def test_a_bad_field_is_named(spec, field):
    with pytest.raises(SpecError, match="^" + re.escape(field)):
        read_spec({"spec": spec})


def test_status_has_no_upper_bound_while_history_is_short():
    found = Recommendation(Estimate(50, 230, None), Estimate(300, 345, None), 0.1)
    assert estimate_status(found) == {
        "target": {"cpu": "230m", "memory": "345Mi"},
        "lowerBound": {"cpu": "50m", "memory": "300Mi"},
    }


def test_requests_within_ten_percent_are_left_alone():
    container = {"resources": {"requests": {"cpu": "240m", "memory": "330Mi"}}}
    assert not needs_update(container, {"cpu": "230m", "memory": "345Mi"})
    assert needs_update(container, {"cpu": "300m", "memory": "345Mi"})
    assert needs_update({"name": "main"}, {"cpu": "230m", "memory": "345Mi"})
