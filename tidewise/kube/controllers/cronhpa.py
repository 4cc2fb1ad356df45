"""The CronHorizontalPodAutoscaler controller: fires each object's jobs on schedule.

Level-triggered, like the provisioner: every pass lists the objects, and an object's jobs
are (re)submitted whenever its spec changes. The schedule arithmetic is the pure
``CronScaler``; this module reads objects, writes the target and records the outcome in
``status.conditions`` in the original controller's format (one entry per job: ``state``
Submitted, Succeed or Failed, ``lastProbeTime`` the instant it was submitted or last ran).

That status is also the controller's memory across restarts: a job resumes from its
``lastProbeTime``, so a firing already recorded is never repeated and one missed while no
operator ran is caught up at once (the target ends at the size the latest firing set); a
``runOnce`` job that has run stays done. A job whose firing fails (target missing, API
error) is recorded Failed and waits for its next firing, as in the original.

A malformed object (a schedule that is not six fields, an unknown time zone, ...) is
marked Failed in every job's condition, with the reason naming the field, and is retried
when its spec changes; it never stops the other objects.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.types import PatchType

from tidewise.kube.api.events import tell
from tidewise.kube.api.kinds import CronHpa
from tidewise.kube.api.loop import reconcile_all
from tidewise.kube.api.metrics import ControllerMetrics
from tidewise.kube.api.status import parse_stamp, stamp
from tidewise.kube.controllers import COMPONENT
from tidewise.kube.controllers.targets import Targets
from tidewise.scaling.cron import CronError, CronHpaSpec, CronScaler, Firing

log = logging.getLogger(__name__)

NAME = "cronhpa"
SUBMITTED, SUCCEED, FAILED = "Submitted", "Succeed", "Failed"
INVALID = "invalid spec, no job runs: "


def job_id(uid: str, job: Mapping[str, Any]) -> str:
    """Stable per object and job definition, so rewriting the status changes nothing."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{uid}/{job.get('name')}/{job.get('schedule')}"))


def condition(
    uid: str, job: Mapping[str, Any], state: str, at: datetime, message: str
) -> dict[str, Any]:
    return {
        "name": str(job.get("name", "")),
        "jobId": job_id(uid, job),
        "schedule": str(job.get("schedule", "")),
        "targetSize": job.get("targetSize") if isinstance(job.get("targetSize"), int) else 0,
        "runOnce": bool(job.get("runOnce", False)),
        "state": state,
        "lastProbeTime": stamp(at),
        "message": message,
    }


def same_job(old: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
    return all(old.get(k) == job.get(k) for k in ("name", "schedule", "targetSize")) and bool(
        old.get("runOnce", False)
    ) == bool(job.get("runOnce", False))


def ran_or_waited(old: Mapping[str, Any]) -> bool:
    """Whether a recorded condition is a time to resume from: a job submitted or run, not
    one that never ran because the object was malformed then."""
    return bool(old.get("lastProbeTime")) and not str(old.get("message", "")).startswith(INVALID)


@dataclass
class Tracked:
    """One object as last read: its spec's fingerprint and its running schedule."""

    fingerprint: str
    scaler: CronScaler | None  # None: the spec is malformed, or every job is done


@dataclass
class CronHpaController:
    client: AsyncClient
    metrics: ControllerMetrics
    period_s: float = 1.0  # how often objects are re-listed; firings wake the loop sooner
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    name: str = NAME

    def __post_init__(self) -> None:
        self.targets = Targets(self.client)
        self._tracked: dict[str, Tracked] = {}

    def forget(self) -> None:
        """Drop the in-memory schedules (on losing the Lease): a new leader resumes from status."""
        self._tracked.clear()

    async def sync(self) -> float:
        """One pass over every object; the seconds until the next pass is due."""
        await reconcile_all(NAME, CronHpa, self.client, self.metrics, self._tracked, self.reconcile)
        return self._until_next()

    def _until_next(self) -> float:
        now = self.clock()
        upcoming = [t.scaler.next_firing() for t in self._tracked.values() if t.scaler is not None]
        waits = [(at - now).total_seconds() for at in upcoming if at is not None]
        return max(0.0, min([self.period_s, *waits]))

    async def reconcile(self, obj: dict[str, Any]) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        uid, now = meta["uid"], self.clock()
        fingerprint = json.dumps(spec, sort_keys=True)
        tracked = self._tracked.get(uid)
        if tracked is None or tracked.fingerprint != fingerprint:
            tracked = self._tracked[uid] = await self._submit(obj, now)
        if tracked.scaler is None or spec.get("cronMode", "Enable") == "Disable":
            return
        firings = tracked.scaler.advance(now)
        if firings:
            await self._fire(obj, tracked.scaler, firings)

    async def _submit(self, obj: dict[str, Any], now: datetime) -> Tracked:
        """Read the spec; resume each job from its recorded condition, or submit it now."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        uid = meta["uid"]
        fingerprint = json.dumps(spec, sort_keys=True)
        raw_jobs = [j for j in spec.get("jobs") or [] if isinstance(j, Mapping)]
        recorded = {c.get("name"): c for c in (obj.get("status") or {}).get("conditions") or []}
        try:
            parsed = CronHpaSpec.from_manifest(obj)
            resume, conditions, done = {}, [], set()
            for job in raw_jobs:
                old = recorded.get(job["name"])
                if old is not None and same_job(old, job) and ran_or_waited(old):
                    resume[job["name"]] = parse_stamp(old["lastProbeTime"])
                    conditions.append(old)
                    if old.get("runOnce") and old.get("state") == SUCCEED:
                        done.add(job["name"])
                else:
                    conditions.append(condition(uid, job, SUBMITTED, now, "waiting for schedule"))
            live = tuple(j for j in parsed.jobs if j.name not in done)
            scaler = CronScaler(dataclasses.replace(parsed, jobs=live)) if live else None
            if scaler is not None:
                scaler.start(now, resume)
        except CronError as error:
            self.metrics.errors.labels(controller=NAME, reason="InvalidSpec").inc()
            log.warning("cronhpa %s/%s: %s", meta["namespace"], meta["name"], error)
            message = f"{INVALID}{error}"
            jobs = raw_jobs or [{"name": "spec", "schedule": "", "targetSize": 0}]
            conditions = [condition(uid, job, FAILED, now, message) for job in jobs]
            scaler = None
        await self._write_status(obj, conditions)
        return Tracked(fingerprint, scaler)

    async def _fire(self, obj: dict[str, Any], scaler: CronScaler, firings: list[Firing]) -> None:
        meta, spec = obj["metadata"], obj["spec"]
        namespace, uid = meta["namespace"], meta["uid"]
        jobs = {j["name"]: j for j in spec["jobs"]}
        outcome: dict[str, dict[str, Any]] = {}
        for firing in firings:
            if firing.skipped_by is not None:
                message = f"skipped: the day is excluded by '{firing.skipped_by}'"
                outcome[firing.job] = condition(uid, jobs[firing.job], SUCCEED, firing.at, message)
        applied = [f for f in firings if f.skipped_by is None]
        if applied:
            last = applied[-1]  # the size the latest firing sets is where the target ends
            try:
                message = await self._apply(scaler, namespace, last.target_size)
                self.metrics.cron_delay_seconds.observe((self.clock() - last.at).total_seconds())
                state = SUCCEED
                told = f"job {last.job}: {message}"
                await tell(self.client, obj, "SuccessfulRescale", told, component=COMPONENT)
            except Exception as error:
                self.metrics.errors.labels(controller=NAME, reason="ScaleFailed").inc()
                log.warning("cronhpa %s/%s job %s: %s", namespace, meta["name"], last.job, error)
                message, state = f"scale failed: {error}", FAILED
                told = f"job {last.job}: {message}"
                await tell(
                    self.client, obj, "FailedRescale", told, component=COMPONENT, warning=True
                )
            for firing in applied:
                note = message if firing is last else f"superseded by job '{last.job}'"
                outcome[firing.job] = condition(uid, jobs[firing.job], state, firing.at, note)
        recorded = {c.get("name"): c for c in (obj.get("status") or {}).get("conditions") or []}
        conditions = [
            outcome.get(name) or recorded[name]
            for name in jobs
            if name in outcome or name in recorded
        ]
        await self._write_status(obj, conditions)

    async def _apply(self, scaler: CronScaler, namespace: str, size: int) -> str:
        target = scaler.spec.target
        if target.is_hpa:
            bounds, changed = await self.targets.raise_hpa_floor(target.name, namespace, size)
            if changed:
                self.metrics.decisions.labels(controller=NAME, rule="cron").inc()
            return f"HPA {target.name} range {bounds.min_replicas}..{bounds.max_replicas}" + (
                f", scaled to {bounds.scale_to}" if bounds.scale_to is not None else ""
            )
        before = await self.targets.scale(target, namespace, size)
        if before != size:
            self.metrics.decisions.labels(controller=NAME, rule="cron").inc()
            return f"scaled {target.kind} {target.name} from {before} to {size}"
        return f"{target.kind} {target.name} already at {size}"

    async def _write_status(self, obj: dict[str, Any], conditions: list[dict[str, Any]]) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        status = {
            "cronMode": spec.get("cronMode", "Enable"),
            "excludeDates": spec.get("excludeDates") or [],
            "scaleTargetRef": spec.get("scaleTargetRef"),
            "conditions": conditions,
        }
        current = obj.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()):
            return
        obj["status"] = status  # later steps of this pass build on what was written
        await self.client.patch(
            CronHpa.Status,
            meta["name"],
            {"status": status},
            namespace=meta["namespace"],
            patch_type=PatchType.MERGE,
        )
