from datetime import UTC, datetime

import numpy as np

from tidewise.scaling.cron import CronScaler
from tidewise.scaling.observation import ServiceModel
from tidewise.scaling.schedule_learning import learn_cron

SERVICE = ServiceModel(replica_capacity=10.0, target_utilization=0.5, min_replicas=1)


def two_weeks():
    """Load 5 at night, 50 from 09:00 to 17:00 on weekdays, 20 then at weekends (per minute)."""
    start = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
    minutes = np.arange(14 * 1440)
    hour = (minutes // 60) % 24
    weekday = (minutes // 1440) % 7 < 5
    day = (hour >= 9) & (hour < 17)
    load = np.where(day, np.where(weekday, 50.0, 20.0), 5.0)
    return start, load


def test_sizes_follow_the_hour_and_day_type():
    start, load = two_weeks()
    spec = learn_cron(load, 60.0, start, SERVICE, lead_s=90)
    sizes = {j.name: j.target_size for j in spec.jobs}
    assert sizes["weekday-10"] == 10  # 50 / (10 x 0.5)
    assert sizes["weekend-10"] == 4
    assert sizes["weekday-03"] == 1
    assert len(spec.jobs) == 48


def test_jobs_fire_ahead_of_the_hour_and_midnight_moves_to_the_day_before():
    start, load = two_weeks()
    spec = learn_cron(load, 60.0, start, SERVICE, lead_s=90)
    schedules = {j.name: j.schedule.text for j in spec.jobs}
    assert schedules["weekday-09"] == "0 58 8 * * 1,2,3,4,5"
    assert schedules["weekday-00"] == "0 58 23 * * 0,1,2,3,4"
    assert schedules["weekend-00"] == "0 58 23 * * 5,6"


def test_the_learnt_schedule_scales_before_the_morning_peak():
    start, load = two_weeks()
    scaler = CronScaler(learn_cron(load, 60.0, start, SERVICE, lead_s=90))
    scaler.start(datetime(2026, 11, 16, 0, 0, tzinfo=UTC))  # the Monday after
    scaler.advance(datetime(2026, 11, 16, 8, 58, 30, tzinfo=UTC))
    assert scaler.floor == 10


def test_unseen_hours_borrow_from_the_other_day_type_then_the_whole_history():
    start, load = two_weeks()
    minutes = np.arange(len(load))
    weekday = (minutes // 1440) % 7 < 5
    load[weekday & ((minutes // 60) % 24 == 10)] = np.nan  # weekdays at 10:00 never seen
    load[(minutes // 60) % 24 == 11] = np.nan  # 11:00 never seen at all
    spec = learn_cron(load, 60.0, start, SERVICE, lead_s=60)
    sizes = {j.name: j.target_size for j in spec.jobs}
    assert sizes["weekday-10"] == sizes["weekend-10"] == 4
    assert sizes["weekday-11"] == 10  # the 95th percentile of everything: the weekday peak
    empty = learn_cron(np.full(1440, np.nan), 60.0, start, SERVICE, lead_s=60)
    assert {j.target_size for j in empty.jobs} == {1}
