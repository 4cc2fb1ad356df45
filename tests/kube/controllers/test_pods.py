from datetime import UTC, datetime

import pytest

from tidewise.kube.controllers.pods import equality_selector, milli, request_of, samples


def pod(name, ready=True, requests=None, deleting=False):
    meta = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-28T08:00:09Z"
    resources = {"requests": requests} if requests is not None else {}
    conditions = [
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "lastTransitionTime": "2026-11-28T08:00:05Z",
        }
    ]
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "main", "resources": resources}]},
        "status": {
            "phase": "Running",
            "startTime": "2026-11-28T08:00:00Z",
            "conditions": conditions,
        },
    }


def test_quantities_in_milli_units_rounded_up():
    assert milli("500m") == 500
    assert milli("2") == 2000
    assert milli("1Ki") == 1_024_000
    assert milli("0.0001") == 1


def test_requests_sum_over_containers_and_none_when_one_is_missing():
    assert request_of(pod("a", requests={"cpu": "250m"}), "cpu") == 250
    assert request_of(pod("a", requests={}), "cpu") is None


def test_samples_carry_readiness_times_request_and_usage():
    usage = {"a": (120, 1_764_316_810.0, 30.0)}
    a, b = samples(
        [
            pod("a", requests={"cpu": "250m"}),
            pod("b", ready=False, deleting=True, requests={"cpu": "1"}),
        ],
        "cpu",
        usage,
    )
    assert a.ready and a.request == 250 and a.value == 120 and a.window_s == 30.0
    started = datetime(2026, 11, 28, 8, tzinfo=UTC).timestamp()
    assert a.start_s == started and a.ready_changed_s == started + 5
    assert not b.ready and b.deleting and b.request == 1000 and b.value is None


def test_selectors_of_match_labels_only():
    assert equality_selector("app=web,tier=front") == {"app": "web", "tier": "front"}
    for unsupported in ("app in (web)", "app!=web", "app"):
        with pytest.raises(ValueError, match="only key=value"):
            equality_selector(unsupported)
