"""Ordered replication to a target cluster: apply each step of a plan with server-side apply
under our own field manager, wait at its gate, record it, and resume after a crash.

Every state change of a step is written to the run file before the next call to a cluster,
so the file always tells what is done. Applying is idempotent (server-side apply of the same
manifest writes nothing), so a step found ``running`` is simply done again; a step found
``done`` is skipped. An API server that stops answering is retried with backoff for
``api_deadline_s``, then the sync stops with a message naming the step; the same command
resumes it.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx2
from lightkube import ApiError, Client, KubeConfig
from lightkube.core.exceptions import LoadResourceError
from lightkube.core.resource import Resource

from tidewise.files import InputError, LockBusy, locked, read_input, write_atomically
from tidewise.fleet.gates import Gate, GateKind, GateState, check
from tidewise.fleet.plan import Action, Cluster, Plan, Step
from tidewise.fleet.run import RunError, RunRecord, StepStatus
from tidewise.kube.fleet.read import BUILT_IN, resource_for_manifest, to_manifest

FIELD_MANAGER = "tidewise-fleet"
POLL_S = 0.5
PROBE_TIMEOUT_S = 5.0
BACKOFF_START_S, BACKOFF_MAX_S = 0.5, 8.0
DEFAULT_API_DEADLINE_S = 120.0
T = TypeVar("T")
Progress = Callable[[str, Step, str], None]


class SyncError(RuntimeError):
    """A sync stopped at a step; the message names it and what to do."""


class Unreachable(SyncError):
    """The API server did not answer within the deadline."""


@dataclass
class Clusters:
    """The two ends of a sync: objects are read from and waited on at ``source``, applied to
    ``target``."""

    source: Client
    target: Client

    def of(self, cluster: Cluster) -> Client:
        return self.source if cluster == Cluster.SOURCE else self.target


def fleet_client(config: KubeConfig) -> Client:
    """A client that applies as ``tidewise-fleet``, so its fields are told apart (Argo CD's
    ``managedFieldsManagers`` can ignore exactly them)."""
    return Client(config, field_manager=FIELD_MANAGER)


def transient(error: Exception) -> bool:
    """An error that waiting may cure: no connection, or a server that is starting/overloaded."""
    if isinstance(error, httpx2.TransportError):
        return True
    return isinstance(error, ApiError) and error.status.code in (429, 500, 502, 503, 504)


@dataclass
class Sync:
    """One run of a plan against two clusters, recorded in ``run_file``."""

    plan: Plan
    clusters: Clusters
    run_file: Path
    progress: Progress
    api_deadline_s: float = DEFAULT_API_DEADLINE_S

    def run(self) -> RunRecord:
        """Do every step not yet done, in order; returns the finished record.

        The run file is this run's alone from start to end: a second sync given the same
        file stops at once (its record and ours would overwrite each other's steps)."""
        try:
            with locked(self.run_file, wait_s=0):
                return self._run()
        except LockBusy as busy:
            raise SyncError(
                f"{busy}: one sync at a time records in a run file; wait for that one to "
                "finish, or give this sync another --run-file"
            ) from None

    def _run(self) -> RunRecord:
        try:
            text = read_input(self.run_file) if self.run_file.exists() else None
        except InputError as error:
            raise RunError(f"{error}; move it away to start afresh") from None
        record = RunRecord.resume(text, self.plan)
        record.begin_run()
        self._save(record)
        for step in self.plan.steps:
            if record.step(step.id).status == StepStatus.DONE:
                record.skip(step.id)
                self._save(record)
                self.progress("skip", step, "done in an earlier run")
                continue
            record.start(step.id, time.time())
            self._save(record)
            self.progress("start", step, step.gate.describe())
            try:
                detail = self._do(step)
            except SyncError as error:
                record.finish(step.id, time.time(), ok=False, result=str(error))
                self._save(record)
                raise
            record.finish(step.id, time.time(), ok=True, result=detail)
            self._save(record)
            self.progress("done", step, detail)
        return record

    def _save(self, record: RunRecord) -> None:
        write_atomically(self.run_file, record.to_json())

    def _do(self, step: Step) -> str:
        """Apply (unless it is a wait) and pass the gate, applying again on each retry."""
        client = self.clusters.of(step.cluster)
        last = GateState(False, "not checked")
        for attempt in range(step.gate.retries + 1):
            if step.action == Action.APPLY:
                self._call(step, "apply", lambda: self._apply(client, step))
            last = self._wait(client, step)
            if last.ready:
                verb = "applied" if step.action == Action.APPLY else "waited"
                if step.gate.kind == GateKind.EXISTS:
                    return verb
                return f"{verb}; {step.gate.kind.value}: {last.detail}"
            if attempt < step.gate.retries:
                self.progress("retry", step, last.detail)
        raise SyncError(
            f"step {step.id}: gate {step.gate.describe()} not passed ({last.detail}); "
            "fix the cause and run the same command again to resume from this step"
        )

    def _apply(self, client: Client, step: Step) -> None:
        assert step.manifest is not None
        resource = resource_for_manifest(client, step.manifest)
        # every kind lightkube loads has from_dict; its base class Resource does not declare it
        client.apply(resource.from_dict(step.manifest), force=True)  # type: ignore[attr-defined]

    def _wait(self, client: Client, step: Step) -> GateState:
        """Poll the gate until it passes, fails for good, or its timeout ends."""
        deadline = time.monotonic() + step.gate.timeout_s
        while True:
            state = self._call(step, "read", lambda: self._state(client, step))
            if state.ready or state.failed or time.monotonic() >= deadline:
                return state
            time.sleep(POLL_S)

    def _state(self, client: Client, step: Step) -> GateState:
        if step.gate.kind == GateKind.HTTP:
            return probe(step.gate)
        if step.gate.kind == GateKind.EXISTS and step.action == Action.APPLY:
            return GateState(True, "applied")
        resource = (
            resource_for_manifest(client, step.manifest)
            if step.manifest
            else _built_in(step.ref.kind)
        )
        try:
            # a kind known at run time: lightkube's overloads type only kinds known statically
            live = client.get(resource, step.ref.name, namespace=step.ref.namespace or None)  # type: ignore[type-var]
        except ApiError as error:
            if error.status.code == 404:
                return GateState(False, "not found")
            raise
        return check(step.gate, to_manifest(resource, live))

    def _call(self, step: Step, what: str, action: Callable[[], T]) -> T:
        """``action``, retried with exponential backoff while the API server is unreachable."""
        deadline = time.monotonic() + self.api_deadline_s
        pause = BACKOFF_START_S
        tries = 0
        while True:
            tries += 1
            try:
                return action()
            except LoadResourceError as error:
                raise SyncError(
                    f"step {step.id}: the {step.cluster.value} cluster does not serve this kind "
                    f"({error}); add its CustomResourceDefinition to the sync (--kinds) first"
                ) from error
            except (httpx2.TransportError, ApiError) as error:
                if not transient(error):
                    raise SyncError(f"step {step.id}: {what} refused: {error}") from error
                if time.monotonic() + pause > deadline:
                    raise Unreachable(
                        f"step {step.id}: the {step.cluster.value} API server did not answer "
                        f"({what}, {tries} tries over {self.api_deadline_s:g}s: {error}); run "
                        "the same command again once it is back, to resume from this step"
                    ) from error
                self.progress("unreachable", step, f"{error}; retrying in {pause:g}s")
                time.sleep(pause)
                pause = min(pause * 2, BACKOFF_MAX_S)


def present_on(target: Client, plan: Plan) -> dict[str, bool]:
    """Which objects the target already has (for ``plan --target``); waits are not listed."""
    present = {}
    for step in plan.steps:
        if step.action != Action.APPLY or step.manifest is None:
            continue
        try:
            # a kind known at run time: lightkube's overloads type only kinds known statically
            target.get(  # type: ignore[type-var]
                resource_for_manifest(target, step.manifest),
                step.ref.name,
                namespace=step.ref.namespace or None,
            )
            present[step.id] = True
        except ApiError as error:
            if error.status.code != 404:
                raise
            present[step.id] = False
        except LoadResourceError:
            present[step.id] = False  # a CR whose CRD the target does not have yet
    return present


def _built_in(kind: str) -> type[Resource]:
    if kind not in BUILT_IN:
        raise SyncError(f"source:{kind}: waits on the source support built-in kinds only")
    return BUILT_IN[kind]


def probe(gate: Gate) -> GateState:
    """An HTTP gate: any 2xx or 3xx answer within a few seconds passes."""
    try:
        with urllib.request.urlopen(gate.url, timeout=PROBE_TIMEOUT_S) as answer:
            return GateState(answer.status < 400, f"HTTP {answer.status}")
    except urllib.error.HTTPError as error:
        return GateState(False, f"HTTP {error.code}")
    except (urllib.error.URLError, OSError) as error:
        return GateState(False, f"no answer ({error})")
