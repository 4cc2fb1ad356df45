from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tidewise.scaling.cron import (
    CronError,
    CronHpaSpec,
    CronScaler,
    Schedule,
    apply_to_hpa,
    excluded,
    parse_go_duration,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def manifest(jobs, **spec):
    return {
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
        "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "web-cron", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "jobs": jobs,
            **spec,
        },
    }


UP_DOWN = [
    {"name": "up", "schedule": "0 0 8 * * *", "targetSize": 10},
    {"name": "down", "schedule": "0 0 20 * * *", "targetSize": 2},
]


def test_reads_the_original_manifest_unchanged():
    spec = CronHpaSpec.from_manifest(manifest(UP_DOWN, excludeDates=["* * * 15 11 *"]))
    assert spec.name == "web-cron" and spec.namespace == "shop"
    assert spec.target.kind == "Deployment" and not spec.target.is_hpa
    assert [j.target_size for j in spec.jobs] == [10, 2]
    assert spec.exclude_dates == ("* * * 15 11 *",) and spec.time_zone is None


def test_seconds_come_first():
    at = Schedule.parse("30 15 9 * * *").next_after(
        datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC)
    )
    assert at == datetime(2026, 11, 28, 9, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0 8 * * *", "six fields, seconds first"),
        ("0 0 25 * * *", "six fields"),
        ("@fortnightly", "unknown descriptor"),
        ("@every 5 minutes", "duration"),
        ("@date 2026-13-01 00:00:00", "@date YYYY-MM-DD HH:MM:SS"),
    ],
)
def test_bad_schedules_name_the_job_field_and_the_fix(schedule, message):
    with pytest.raises(CronError, match=r"spec\.jobs\[0\]\..*" + message):
        CronHpaSpec.from_manifest(manifest([{"name": "j", "schedule": schedule, "targetSize": 1}]))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("targetSize", -1, r"spec\.jobs\[0\]\.targetSize"),
        ("targetSize", "3", r"spec\.jobs\[0\]\.targetSize"),
        ("runOnce", "yes", r"spec\.jobs\[0\]\.runOnce"),
    ],
)
def test_bad_job_fields(field, value, message):
    job = {"name": "j", "schedule": "0 0 8 * * *", "targetSize": 1, field: value}
    with pytest.raises(CronError, match=message):
        CronHpaSpec.from_manifest(manifest([job]))


def test_bad_zone_and_exclude_dates_are_refused():
    with pytest.raises(CronError, match=r"spec\.timeZone: 'Mars/Olympus'"):
        CronHpaSpec.from_manifest(manifest(UP_DOWN, timeZone="Mars/Olympus"))
    with pytest.raises(CronError, match=r"spec\.excludeDates\[0\]"):
        CronHpaSpec.from_manifest(manifest(UP_DOWN, excludeDates=["15 11"]))
    with pytest.raises(CronError, match="unique"):
        CronHpaSpec.from_manifest(manifest(UP_DOWN + UP_DOWN[:1]))


def test_go_durations():
    assert parse_go_duration("1h30m") == timedelta(minutes=90)
    assert parse_go_duration("1.5h") == timedelta(minutes=90)
    assert parse_go_duration("250ms") == timedelta(milliseconds=250)
    with pytest.raises(CronError):
        parse_go_duration("5 m")


def test_floor_follows_the_last_job_that_fired():
    scaler = CronScaler(CronHpaSpec.from_manifest(manifest(UP_DOWN)))
    scaler.start(datetime(2026, 11, 28, 7, tzinfo=UTC))
    assert scaler.advance(datetime(2026, 11, 28, 7, 59, tzinfo=UTC)) == []
    assert scaler.floor is None
    fired = scaler.advance(datetime(2026, 11, 28, 8, 0, 1, tzinfo=UTC))
    assert [f.job for f in fired] == ["up"] and scaler.floor == 10
    # a caller that ticks rarely: the jobs due in between fire in order, the latest wins
    fired = scaler.advance(datetime(2026, 11, 30, 9, tzinfo=UTC))
    assert [f.job for f in fired] == ["down", "up", "down", "up"]
    assert scaler.floor == 10 and scaler.last_job == "up"


def test_a_resumed_scaler_catches_up_a_missed_firing_and_repeats_none():
    """Restarted at 09:00 with 'up' last run at 08:00 and 'down' submitted at 07:00: 'up'
    next fires tomorrow, 'down' at 20:00 today; nothing fires at the restart itself."""
    scaler = CronScaler(CronHpaSpec.from_manifest(manifest(UP_DOWN)))
    day = datetime(2026, 11, 28, tzinfo=UTC)
    resume = {"up": day.replace(hour=8), "down": day.replace(hour=7)}
    scaler.start(day.replace(hour=9), resume)
    assert scaler.advance(day.replace(hour=9)) == []
    assert scaler.next_firing() == day.replace(hour=20)
    # down since 07:00 and restarted at 21:00: the 20:00 firing is caught up at once
    late = CronScaler(CronHpaSpec.from_manifest(manifest(UP_DOWN)))
    late.start(day.replace(hour=21), resume)
    fired = late.advance(day.replace(hour=21))
    assert [(f.job, f.at.hour) for f in fired] == [("down", 20)] and late.floor == 2


def test_a_resumed_one_shot_job_already_run_is_no_error():
    job = {"name": "launch", "schedule": "@date 2026-11-28 08:00:00", "targetSize": 9}
    spec = CronHpaSpec.from_manifest(manifest([job]))
    after = datetime(2026, 11, 28, 9, tzinfo=UTC)
    with pytest.raises(CronError, match="in the past"):
        CronScaler(spec).start(after)
    scaler = CronScaler(spec)
    scaler.start(after, {"launch": datetime(2026, 11, 28, 8, tzinfo=UTC)})
    assert scaler.advance(after) == [] and scaler.next_firing() is None


def test_the_object_time_zone_decides_when_a_job_fires():
    spec = CronHpaSpec.from_manifest(manifest(UP_DOWN[:1], timeZone="Asia/Shanghai"))
    scaler = CronScaler(spec, default_zone="UTC")
    scaler.start(datetime(2026, 11, 27, 23, tzinfo=UTC))  # 07:00 in Shanghai
    assert scaler.next_firing() == datetime(2026, 11, 28, 8, tzinfo=SHANGHAI)
    assert scaler.advance(datetime(2026, 11, 28, 0, 0, 1, tzinfo=UTC))[0].job == "up"


def test_daylight_saving_skipped_time_fires_once_after_the_jump():
    spec = CronHpaSpec.from_manifest(
        manifest(
            [{"name": "night", "schedule": "0 30 2 * * *", "targetSize": 3}],
            timeZone="America/New_York",
        )
    )
    scaler = CronScaler(spec)
    scaler.start(datetime(2026, 3, 7, 12, tzinfo=NEW_YORK))
    fired = scaler.advance(datetime(2026, 3, 9, 12, tzinfo=NEW_YORK))
    times = [f.at.astimezone(NEW_YORK).strftime("%m-%d %H:%M") for f in fired]
    assert times == ["03-08 03:00", "03-09 02:30"]  # 02:30 did not exist on March 8


def test_excluded_days_skip_the_job_and_keep_the_floor():
    spec = CronHpaSpec.from_manifest(manifest(UP_DOWN, excludeDates=["* * * * * 6"]))  # Sat
    scaler = CronScaler(spec)
    scaler.start(datetime(2026, 11, 27, 12, tzinfo=UTC))  # a Friday
    fired = scaler.advance(datetime(2026, 11, 28, 12, tzinfo=UTC))
    assert [(f.job, f.skipped_by) for f in fired] == [("down", None), ("up", "* * * * * 6")]
    assert scaler.floor == 2
    assert excluded(datetime(2026, 11, 15, 23, 59), ["* * * 15 11 *"]) == "* * * 15 11 *"
    assert excluded(datetime(2026, 11, 16, 0, 0), ["* * * 15 11 *"]) is None


def test_run_once_and_date_jobs_fire_a_single_time():
    jobs = [
        {"name": "launch", "schedule": "@date 2026-12-01 09:00:00", "targetSize": 40},
        {"name": "first-hour", "schedule": "0 0 * * * *", "targetSize": 5, "runOnce": True},
    ]
    scaler = CronScaler(CronHpaSpec.from_manifest(manifest(jobs)))
    scaler.start(datetime(2026, 11, 30, 22, 30, tzinfo=UTC))
    fired = scaler.advance(datetime(2026, 12, 2, tzinfo=UTC))
    assert [f.job for f in fired] == ["first-hour", "launch"]
    assert scaler.floor == 40 and scaler.next_firing() is None


def test_a_date_in_the_past_is_a_clear_error():
    jobs = [{"name": "launch", "schedule": "@date 2020-01-01 00:00:00", "targetSize": 4}]
    scaler = CronScaler(CronHpaSpec.from_manifest(manifest(jobs)))
    with pytest.raises(CronError, match="job 'launch': @date 2020-01-01 00:00:00 is in the past"):
        scaler.start(datetime(2026, 11, 28, tzinfo=UTC))


def test_every_counts_from_when_the_job_was_added():
    jobs = [{"name": "tick", "schedule": "@every 90s", "targetSize": 1}]
    scaler = CronScaler(CronHpaSpec.from_manifest(manifest(jobs)))
    added = datetime(2026, 11, 28, 0, 0, 10, tzinfo=UTC)
    scaler.start(added)
    fired = scaler.advance(added + timedelta(seconds=300))
    assert [f.at - added for f in fired] == [timedelta(seconds=90 * k) for k in (1, 2, 3)]


@pytest.mark.parametrize(
    ("size", "hpa", "current", "expected"),
    [
        (10, (2, 8), 4, (10, 10, 10)),  # above max: max raised; workload below: min raised
        (6, (2, 20), 4, (6, 20, 6)),  # floor above current: min raised and scaled
        (3, (2, 20), 7, (2, 20, None)),  # workload already above the floor: the HPA decides
        (1, (2, 20), 7, (1, 20, None)),  # below min: min lowered
        (1, (2, 20), 2, (1, 20, None)),  # current at min and size smaller: min follows
    ],
)
def test_an_hpa_target_takes_the_size_as_a_floor(size, hpa, current, expected):
    bounds = apply_to_hpa(size, *hpa, current)
    assert (bounds.min_replicas, bounds.max_replicas, bounds.scale_to) == expected
