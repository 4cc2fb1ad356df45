from datetime import UTC, datetime, timedelta, timezone

from tidewise.kube.api.status import parse_stamp, set_condition, stamp


def test_stamps_are_utc_to_the_second_and_read_back():
    at = datetime(2026, 11, 28, 16, 0, 5, 700_000, tzinfo=timezone(timedelta(hours=8)))
    assert stamp(at) == "2026-11-28T08:00:05Z"
    assert parse_stamp(stamp(at)) == datetime(2026, 11, 28, 8, 0, 5, tzinfo=UTC)


def test_a_condition_keeps_its_transition_time_until_its_status_changes():
    first = set_condition([], "Ready", False, "InvalidSpec", "spec.x: bad", "T1")
    again = set_condition(first, "Ready", False, "InvalidSpec", "spec.y: bad", "T2")
    assert again == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "InvalidSpec",
            "message": "spec.y: bad",
            "lastTransitionTime": "T1",
        }
    ]
    fixed = set_condition(again, "Ready", True, "Scaling", "ok", "T3")
    assert fixed[0]["lastTransitionTime"] == "T3" and len(fixed) == 1
    both = set_condition(fixed, "ScalingActive", True, "ValidMetricFound", "ok", "T4")
    assert [c["type"] for c in both] == ["Ready", "ScalingActive"]
