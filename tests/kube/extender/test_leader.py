"""Who binds: the Lease holder, its pod labelled for the Service; a lost renewal stands the
replica down at once."""

import asyncio

from tidewise.kube.extender.leader import ROLE_LABEL, Leadership
from tidewise.kube.extender.metrics import ExtenderMetrics


class FakeElector:
    """Answers each acquire-or-renew from ``answers`` (an exception is raised)."""

    def __init__(self, answers):
        self.answers, self.identity, self.retry_s = list(answers), "me", 0.01
        self.released = False

    async def try_acquire_or_renew(self):
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def release(self):
        self.released = True


class FakeClient:
    def __init__(self):
        self.labels = []

    async def patch(self, kind, name, body, namespace):
        self.labels.append((namespace, name, body["metadata"]["labels"][ROLE_LABEL]))


def run_for(leadership, seconds, seen):
    async def main():
        task = asyncio.create_task(leadership.run())
        for _ in range(int(seconds / 0.005)):
            seen.append(leadership())
            await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def test_the_lease_holder_leads_a_failed_renewal_stands_it_down_and_it_labels_its_pod():
    elector = FakeElector([False, True, OSError("api server away"), True])
    client, metrics, seen = FakeClient(), ExtenderMetrics(), []
    leadership = Leadership(metrics, elector, client, pod=("ns", "extender-0"))
    assert not leadership()
    run_for(leadership, 0.2, seen)
    roles = [role for _, _, role in client.labels]
    assert roles == ["standby", "leader", "standby", "leader"]
    assert True in seen and elector.released and not leadership()
    assert metrics.leader._value.get() == 0


def test_without_an_elector_the_only_replica_leads():
    leadership = Leadership(ExtenderMetrics())
    assert leadership()
    run_for(leadership, 0.02, [])
    assert leadership()
