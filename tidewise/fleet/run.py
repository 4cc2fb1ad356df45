"""The record of a sync: every step's start, end and result, so a crash or an unreachable API
server costs only the step that was running (Velero's Restore status is the model: a phase,
per-item results, errors). Plain data; the adapter stamps the times and writes the file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from tidewise.fleet.plan import Plan

FORMAT = 1


class RunError(ValueError):
    """A run file that cannot be resumed; the message says what to do."""


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # started, not ended: the next run does it again (apply is idempotent)
    DONE = "done"
    FAILED = "failed"


@dataclass
class StepRecord:
    id: str
    status: StepStatus = StepStatus.PENDING
    started: float | None = None  # Unix seconds, stamped by the adapter
    ended: float | None = None
    result: str = ""
    attempts: int = 0  # how many runs started it
    skipped: int = 0  # how many later runs found it done and left it alone


@dataclass
class RunRecord:
    fingerprint: str
    steps: list[StepRecord] = field(default_factory=list)
    runs: int = 0

    @classmethod
    def for_plan(cls, plan: Plan) -> RunRecord:
        return cls(plan.fingerprint(), [StepRecord(s.id) for s in plan.steps])

    @classmethod
    def resume(cls, text: str | None, plan: Plan) -> RunRecord:
        """The record in ``text`` (a run file's content), or a fresh one when there is none."""
        if text is None:
            return cls.for_plan(plan)
        try:
            data = _record(text)
            record = cls(
                data["fingerprint"],
                [StepRecord(**{**s, "status": StepStatus(s["status"])}) for s in data["steps"]],
                data["runs"],
            )
        except (ValueError, KeyError, TypeError) as err:
            raise RunError(f"cannot read it ({err}); move it away to start afresh") from None
        if record.fingerprint != plan.fingerprint():
            raise RunError(
                f"it records plan {record.fingerprint}, but the selection and transforms now "
                f"give plan {plan.fingerprint()}; use another --run-file for a new sync"
            )
        return record

    def step(self, step_id: str) -> StepRecord:
        return next(s for s in self.steps if s.id == step_id)

    def begin_run(self) -> None:
        self.runs += 1

    def start(self, step_id: str, now: float) -> None:
        record = self.step(step_id)
        record.status, record.started, record.ended = StepStatus.RUNNING, now, None
        record.result = ""
        record.attempts += 1

    def finish(self, step_id: str, now: float, ok: bool, result: str) -> None:
        record = self.step(step_id)
        record.status = StepStatus.DONE if ok else StepStatus.FAILED
        record.ended, record.result = now, result

    def skip(self, step_id: str) -> None:
        self.step(step_id).skipped += 1

    @property
    def complete(self) -> bool:
        return all(s.status == StepStatus.DONE for s in self.steps)

    def to_json(self) -> str:
        data: dict[str, Any] = {"format": FORMAT, **asdict(self)}
        return json.dumps(data, indent=2) + "\n"


def sync_finished(text: str | None) -> bool:
    """Whether a run file's content records a sync whose every step is done: the gate that
    lets traffic rise on the cluster it synced into (docs/traffic.md). No file, an unreadable
    one or one of another format is not finished."""
    if text is None:
        return False
    try:
        steps = _record(text)["steps"]
        return bool(steps) and all(s["status"] == StepStatus.DONE for s in steps)
    except (ValueError, KeyError, TypeError):
        return False


def record_problem(text: str) -> str | None:
    """Why ``text`` is not a run record (``None`` when it is one, finished or not)."""
    try:
        data = _record(text)
        if not isinstance(data["steps"], list) or not all(
            isinstance(s, dict) and "status" in s for s in data["steps"]
        ):
            raise ValueError("its steps are not a list of steps")
    except (ValueError, KeyError, TypeError) as error:
        return f"not a run record ({error})"
    return None


def _record(text: str) -> dict[str, Any]:
    """A run file's JSON, checked to be a record of this format (``ValueError`` otherwise):
    a file holding ``[]``, ``null`` or another program's JSON is not a record."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"it holds a JSON {type(data).__name__}, not a run record")
    if data.get("format") != FORMAT:
        raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
    return data
