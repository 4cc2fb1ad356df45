"""Scheduled scaling compatible with Alibaba's CronHorizontalPodAutoscaler.

Manifests of ``autoscaling.alibabacloud.com/v1beta1 CronHorizontalPodAutoscaler`` are read
unchanged: ``scaleTargetRef``, ``excludeDates`` and ``jobs[{name, schedule, targetSize,
runOnce}]``. Schedules have six fields with seconds first (the controller's robfig/cron fork),
the descriptors ``@yearly`` .. ``@hourly``, ``@every <Go duration>`` and the one-shot
``@date YYYY-MM-DD HH:MM:SS``. Cron expressions are evaluated by croniter; only the two
non-cron forms are read here.

Beyond the original, an object may name its time zone (``spec.timeZone``, IANA). The original
has one zone per controller process, and "my job did not run" reports trace back to that
(research notes, autoscaling-cost.md section 2). Daylight saving follows croniter: a time
skipped by a spring-forward jump fires at the first instant after it, and a time repeated by
a fall-back fires twice with the same target, which leaves a floor unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

API_VERSION = "autoscaling.alibabacloud.com/v1beta1"
KIND = "CronHorizontalPodAutoscaler"

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class CronError(ValueError):
    """A manifest or schedule that cannot run; the message names the field and the fix."""


def parse_go_duration(text: str) -> timedelta:
    """A Go ``time.ParseDuration`` string such as ``90s``, ``1h30m`` or ``1.5h``."""
    text = text.strip()
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise CronError(f"'{text}' is not a duration; write it like 30s, 5m or 1h30m")
    return timedelta(seconds=sum(float(n) * _GO_UNIT_S[u] for n, u in parts))


@dataclass(frozen=True)
class Schedule:
    """When a job fires: a cron expression, a constant interval, or one instant."""

    text: str
    expression: str | None = None  # six fields, seconds first
    every: timedelta | None = None
    once_at: datetime | None = None  # naive, in the object's time zone

    @classmethod
    def parse(cls, text: str) -> Schedule:
        text = text.strip()
        if text.startswith("@every"):
            every = parse_go_duration(text.removeprefix("@every"))
            if every < timedelta(seconds=1):
                raise CronError(f"schedule '{text}': @every needs at least 1s")
            return cls(text, every=every)
        if text.startswith("@date"):
            stamp = text.removeprefix("@date").strip()
            try:
                return cls(text, once_at=datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
            except ValueError:
                raise CronError(
                    f"schedule '{text}': write @date as '@date YYYY-MM-DD HH:MM:SS'"
                ) from None
        if text.startswith("@"):
            if not croniter.is_valid(text):
                raise CronError(f"schedule '{text}': unknown descriptor")
            return cls(text, expression=text)
        if len(text.split()) != 6 or not croniter.is_valid(text, second_at_beginning=True):
            raise CronError(
                f"schedule '{text}': expected six fields, seconds first "
                "('sec min hour day-of-month month day-of-week'), e.g. '0 0 8 * * *'"
            )
        return cls(text, expression=text)

    @property
    def one_shot(self) -> bool:
        return self.once_at is not None

    def next_after(self, after: datetime, added: datetime) -> datetime | None:
        """The first firing strictly after ``after`` (aware), or None when there is none.

        ``added`` is when the job was submitted: ``@every`` counts from it, as robfig does.
        """
        zone = after.tzinfo
        if self.once_at is not None:
            at = self.once_at.replace(tzinfo=zone)
            return at if at > after else None
        if self.every is not None:
            periods = (after - added) // self.every + 1
            return added + periods * self.every
        assert self.expression is not None
        six = not self.expression.startswith("@")
        fire = croniter(self.expression, after, second_at_beginning=six).get_next(datetime)
        return fire


@dataclass(frozen=True)
class CronJob:
    name: str
    schedule: Schedule
    target_size: int
    run_once: bool = False


@dataclass(frozen=True)
class ScaleTargetRef:
    api_version: str
    kind: str
    name: str

    @property
    def is_hpa(self) -> bool:
        return self.kind == "HorizontalPodAutoscaler"


@dataclass(frozen=True)
class CronHpaSpec:
    """One CronHorizontalPodAutoscaler object, validated."""

    name: str
    namespace: str
    target: ScaleTargetRef
    jobs: tuple[CronJob, ...]
    exclude_dates: tuple[str, ...] = ()
    time_zone: str | None = None

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> CronHpaSpec:
        """Read a manifest as ``kubectl`` would apply it; errors name the offending field."""
        if manifest.get("apiVersion") != API_VERSION or manifest.get("kind") != KIND:
            raise CronError(f"apiVersion/kind: expected {API_VERSION} {KIND}")
        meta = _mapping(manifest.get("metadata"), "metadata")
        spec = _mapping(manifest.get("spec"), "spec")
        ref = _mapping(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
        target = ScaleTargetRef(
            _text(ref, "apiVersion", "spec.scaleTargetRef"),
            _text(ref, "kind", "spec.scaleTargetRef"),
            _text(ref, "name", "spec.scaleTargetRef"),
        )
        raw_jobs = spec.get("jobs")
        if not isinstance(raw_jobs, list) or not raw_jobs:
            raise CronError("spec.jobs: give at least one job {name, schedule, targetSize}")
        jobs = tuple(_job(j, f"spec.jobs[{i}]") for i, j in enumerate(raw_jobs))
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            raise CronError("spec.jobs: job names must be unique")
        excludes = spec.get("excludeDates") or []
        if not isinstance(excludes, list):
            raise CronError("spec.excludeDates: a list of six-field cron expressions")
        for i, expr in enumerate(excludes):
            if not isinstance(expr, str) or not croniter.is_valid(expr, second_at_beginning=True):
                raise CronError(
                    f"spec.excludeDates[{i}]: '{expr}' is not a six-field cron expression "
                    "(e.g. '* * * 15 11 *' skips November 15)"
                )
        zone = spec.get("timeZone")
        if zone is not None:
            _zone(zone, "spec.timeZone")
        return cls(
            name=_text(meta, "name", "metadata"),
            namespace=str(meta.get("namespace", "default")),
            target=target,
            jobs=jobs,
            exclude_dates=tuple(excludes),
            time_zone=zone,
        )


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CronError(f"{where}: missing or not a mapping")
    return value


def _text(value: Mapping[str, Any], key: str, where: str) -> str:
    got = value.get(key)
    if not isinstance(got, str) or not got:
        raise CronError(f"{where}.{key}: required string")
    return got


def _job(raw: object, where: str) -> CronJob:
    job = _mapping(raw, where)
    size = job.get("targetSize")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise CronError(f"{where}.targetSize: a whole number >= 0")
    try:
        schedule = Schedule.parse(_text(job, "schedule", where))
    except CronError as err:
        raise CronError(f"{where}.{err}") from None
    run_once = job.get("runOnce", False)
    if not isinstance(run_once, bool):
        raise CronError(f"{where}.runOnce: true or false")
    return CronJob(_text(job, "name", where), schedule, size, run_once or schedule.one_shot)


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(
            f"{where}: '{name}' is not an IANA time zone (e.g. Asia/Shanghai)"
        ) from None


def excluded(day: datetime, exclude_dates: Sequence[str]) -> str | None:
    """The exclude expression that switches ``day`` off, if any (day granularity, as the
    original: the date is off when the expression fires at some time that day)."""
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    for expr in exclude_dates:
        fire = croniter(expr, start - timedelta(seconds=1), second_at_beginning=True).get_next(
            datetime
        )
        if fire.date() == start.date():
            return expr
    return None


@dataclass(frozen=True)
class Firing:
    """A job that came due: applied, or skipped because the day is excluded."""

    job: str
    at: datetime
    target_size: int
    skipped_by: str | None = None


@dataclass
class CronScaler:
    """The scheduled floor of one object over time. Pure: the caller passes the time.

    ``advance`` fires every job due up to ``now`` (in order), so a caller that ticks rarely
    still ends at the right size, and the last applied target is the current floor.
    """

    spec: CronHpaSpec
    default_zone: str = "UTC"
    added: datetime | None = None
    floor: int | None = None
    last_job: str | None = None
    _next: dict[str, datetime | None] = field(default_factory=dict, init=False)
    _soonest: datetime | None = field(default=None, init=False)  # min of _next

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.spec.time_zone or self.default_zone, "timeZone")

    def start(self, now: datetime, resume: Mapping[str, datetime] | None = None) -> None:
        """Submit the jobs at ``now`` (aware). A ``@date`` already past is an error.

        ``resume`` maps a job's name to when it last ran (or was submitted), as a controller
        restarted from its status knows it: that job fires next strictly after that instant,
        so a firing missed while nothing ran is caught up and one already done is not redone.
        """
        local = now.astimezone(self.zone)
        self.added = local
        since = resume or {}
        for job in self.spec.jobs:
            after = since[job.name].astimezone(self.zone) if job.name in since else local
            fire = job.schedule.next_after(after, local)
            if job.schedule.one_shot and fire is None and job.name not in since:
                raise CronError(
                    f"job '{job.name}': {job.schedule.text} is in the past "
                    f"(now {local:%Y-%m-%d %H:%M:%S %Z}); give a future date or remove the job"
                )
            self._next[job.name] = fire
        self._soonest = self.next_firing()

    def advance(self, now: datetime) -> list[Firing]:
        if self.added is None:
            self.start(now)
        assert self.added is not None
        local = now.astimezone(self.zone)
        if self._soonest is None or local < self._soonest:
            return []  # most ticks: nothing due (a learnt schedule has dozens of jobs)
        due: list[tuple[datetime, CronJob]] = []
        for job in self.spec.jobs:
            fire = self._next.get(job.name)
            while fire is not None and fire <= local:
                due.append((fire, job))
                fire = None if job.run_once else job.schedule.next_after(fire, self.added)
            self._next[job.name] = fire
        self._soonest = self.next_firing()
        firings = []
        for fire, job in sorted(due, key=lambda d: d[0]):
            skip = excluded(fire, self.spec.exclude_dates)
            firings.append(Firing(job.name, fire, job.target_size, skip))
            if skip is None:
                self.floor, self.last_job = job.target_size, job.name
        return firings

    def next_firing(self) -> datetime | None:
        pending = [t for t in self._next.values() if t is not None]
        return min(pending) if pending else None


@dataclass(frozen=True)
class HpaBounds:
    """What the CronHPA controller writes to an HPA target, and the workload size to set."""

    min_replicas: int
    max_replicas: int
    scale_to: int | None  # None: leave the replicas to the HPA


def apply_to_hpa(target_size: int, min_replicas: int, max_replicas: int, current: int) -> HpaBounds:
    """The original controller's rule when the target is an HPA: the size is a floor.

    Above the HPA's max raises the max; below its min lowers the min; when the workload is
    smaller than the size the min is raised and the workload scaled up; when it is at least
    the size the HPA keeps deciding (research notes section 2, ``ScaleHPA``).
    """
    new_min, new_max = min_replicas, max(max_replicas, target_size)
    scale_to = None
    if target_size < min_replicas or (current == min_replicas and target_size < current):
        new_min = target_size
    if current < target_size:
        new_min = target_size
        scale_to = target_size
    return HpaBounds(new_min, new_max, scale_to)
