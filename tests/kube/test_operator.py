"""The operator's health: a leader whose provisioning rounds stop completing answers 503 on
/healthz (so the kubelet restarts it) and says when its last round completed in /metrics."""

import asyncio
from types import SimpleNamespace

from tidewise.kube.operator import Operator


class Provisioner:
    """Rounds driven by the test: ``reconcile`` fails while ``failing``."""

    def __init__(self) -> None:
        self.failing = True

    async def reconcile(self):
        if self.failing:
            raise ConnectionError("the API server is away")
        return []

    async def rounds(self, period_s, one_round):
        await asyncio.Event().wait()


def test_a_leader_whose_rounds_stop_completing_is_unhealthy():
    async def scenario():
        now = [100.0]
        provisioner = Provisioner()
        elector = SimpleNamespace(duration_s=15.0, identity="me", holder="me")
        operator = Operator(
            lambda _: provisioner, elector, period_s=1.0, clock=lambda: now[0], stuck_periods=10
        )
        operator.last_beat = now[0]
        await operator._follow(True)
        registry = operator.metrics.registry
        for _ in range(11):  # eleven periods of failed rounds, the election loop alive
            now[0] += 1
            operator.last_beat = now[0]
            await operator.one_round(provisioner)
            assert operator.healthy() == (now[0] - 100.0 <= 10)
        assert not operator.healthy()
        assert registry.get_sample_value("tidewise_round_completed_timestamp_seconds") == 0
        provisioner.failing = False
        await operator.one_round(provisioner)
        assert operator.healthy()
        assert registry.get_sample_value("tidewise_round_completed_timestamp_seconds") > 0
        await operator._follow(False)
        now[0] += 60  # a standby runs no rounds: healthy while its election loop is
        operator.last_beat = now[0]
        assert operator.healthy()

    asyncio.run(scenario())
