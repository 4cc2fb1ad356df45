"""The GPU reservation annotation: written by the defragmenter, read by the extender."""

import json

from tests.kube.api.factories import gpu_node
from tidewise.kube.api.reservation import (
    RESERVATION,
    GpuReservation,
    reservation_of,
    reservation_patch,
)

HELD = GpuReservation("ml/job-0", "uid-job", (0, 1), 1_800_000_000.0)


def annotated(value):
    node = gpu_node("n")
    node["metadata"]["annotations"] = {RESERVATION: value}
    return node


def test_a_reservation_round_trips_through_its_merge_patch():
    patch = reservation_patch(HELD)
    value = patch["metadata"]["annotations"][RESERVATION]
    assert json.loads(value) == {
        "pod": "ml/job-0",
        "uid": "uid-job",
        "gpus": [0, 1],
        "until": "2027-01-15T08:00:00Z",
    }
    assert reservation_of(annotated(value)) == HELD
    assert reservation_patch(None) == {"metadata": {"annotations": {RESERVATION: None}}}
    assert reservation_of(gpu_node("n")) is None


def test_an_unreadable_reservation_is_none_never_a_node_blocked_for_ever():
    good = json.loads(reservation_patch(HELD)["metadata"]["annotations"][RESERVATION])
    for broken in (
        "not json",
        json.dumps({**good, "gpus": ["x"]}),
        json.dumps({**good, "gpus": [-1]}),
        json.dumps({k: v for k, v in good.items() if k != "until"}),
        json.dumps({**good, "until": "tomorrow"}),
        json.dumps([1, 2]),
    ):
        assert reservation_of(annotated(broken)) is None, broken


def test_a_reservation_expires_at_its_time():
    assert not HELD.expired(HELD.until - 1)
    assert HELD.expired(HELD.until)
