"""The controller loop every controller runs in: sync only while leading, forget on losing
the lead, one warning (not an error per period) while a CRD is missing."""

import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from tests.kube.controllers.fakes import not_found
from tidewise.kube.api import loop
from tidewise.kube.api.metrics import ControllerMetrics


class Probe:
    """A controller that records what the loop asks of it and fails as told."""

    name = "probe"
    period_s = 0.0

    def __init__(self, outcomes=()):
        self.outcomes = list(outcomes)
        self.calls = []

    async def sync(self):
        self.calls.append("sync")
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return 0.0

    def forget(self):
        self.calls.append("forget")


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    for pause in ("STANDBY_POLL_S", "MIN_SLEEP_S", "CRD_MISSING_POLL_S"):
        monkeypatch.setattr(loop, pause, 0.0)


def drive(controller, leadership, metrics):
    """Drive ``controller`` while ``leadership`` says, one answer per turn of the loop; then
    not leading, until the loop has seen that."""

    async def main():
        states = iter(leadership)
        over = asyncio.Event()

        def leading():
            try:
                return next(states)
            except StopIteration:
                over.set()
                return False

        task = asyncio.create_task(loop.drive(controller, leading, metrics))
        await over.wait()
        await asyncio.sleep(0)  # the turn that saw the lead end
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_syncs_only_while_leading_and_forgets_when_the_lead_ends():
    probe = Probe()
    drive(probe, [False, True, True, False, False, True], ControllerMetrics(CollectorRegistry()))
    # a standby that never led forgets nothing; each lost lead forgets once
    assert probe.calls == ["sync", "sync", "forget", "sync", "forget"]


def test_a_missing_crd_warns_once_until_it_is_served_and_other_failures_count(caplog):
    registry = CollectorRegistry()
    outcomes = [not_found("crd"), not_found("crd"), RuntimeError("down"), None, not_found("crd")]
    with caplog.at_level(logging.WARNING, logger="tidewise.kube.api.loop"):
        drive(Probe(outcomes), [True] * 5, ControllerMetrics(registry))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["probe: its CRD is not installed (deploy/crds)"] * 2

    def errors(reason):
        labels = {"controller": "probe", "reason": reason}
        return registry.get_sample_value("tidewise_controller_errors_total", labels)

    assert errors("RuntimeError") == 1
    assert errors("ApiError") is None
