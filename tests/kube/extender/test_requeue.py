"""Which pods the extender stamps so that kube-scheduler tries them again, and when."""

import asyncio
from types import SimpleNamespace

from tests.kube.api.factories import pod, share
from tidewise.kube.extender import requeue as requeue_module
from tidewise.kube.extender.metrics import ExtenderMetrics
from tidewise.kube.extender.requeue import REPEAT_S, REQUEUE_ANNOTATION, Requeuer
from tidewise.kube.extender.requeue import tried_and_waiting as waiting


def tried(body, status="False"):
    body["status"]["conditions"] = [{"type": "PodScheduled", "status": status}]
    return body


def test_only_pods_the_scheduler_tried_that_ask_for_a_gpu_share_are_stamped_at_start():
    assert waiting(tried(share("p", 25, 1024)))
    assert not waiting(share("never-tried", 25, 1024))  # in the active queue anyway
    assert not waiting(tried(pod("cpu-only")))  # the extender never saw it
    assert not waiting(tried(share("bound", 25, 1024, node="n")))
    assert not waiting(tried(share("scheduled", 25, 1024), status="True"))
    deleting = tried(share("deleting", 25, 1024))
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not waiting(deleting)


class FakeClient:
    def __init__(self, pods):
        self.pods, self.patches = pods, []

    async def _listing(self):
        for body in self.pods:
            yield SimpleNamespace(to_dict=lambda body=body: body)

    def list(self, kind, namespace=None, fields=None):
        assert fields == {"spec.nodeName": ""}
        return self._listing()

    async def patch(self, kind, name, body, namespace):
        self.patches.append((namespace, name, body["metadata"]["annotations"][REQUEUE_ANNOTATION]))


def rounds(requeuer, steps):
    """Run the requeuer; at each step, call ``step()`` then let it run one round."""

    async def run():
        task = asyncio.create_task(requeuer.run())
        for step in steps:
            step()
            await asyncio.sleep(3 * requeue_module.ROUND_S)
        task.cancel()

    asyncio.run(run())


def test_serving_begins_with_a_stamp_on_every_waiting_pod_then_rejected_pods_on_room(
    monkeypatch,
):
    monkeypatch.setattr(requeue_module, "ROUND_S", 0.01)
    client = FakeClient([tried(share("waiting", 25, 1024)), share("fresh", 25, 1024)])
    serving, now, stamp = [False], [0.0], iter(range(100))
    requeuer = Requeuer(
        client,
        ExtenderMetrics(),
        serving=lambda: serving[0],
        leading=lambda: True,
        clock_ns=lambda: next(stamp),
        monotonic=lambda: now[0],
    )
    rejected = share("rejected", 50, 1024)
    rounds(
        requeuer,
        [
            lambda: None,  # not serving yet: nothing
            lambda: serving.__setitem__(0, True),  # serving: every waiting pod
            lambda: requeuer.rejected_pod(rejected),  # turned away, no room yet: nothing
            requeuer.freed,  # room: the rejected pod
            requeuer.freed,  # room again, nobody rejected since: nothing
            lambda: (requeuer.rejected_pod(rejected), requeuer.freed()),  # too soon again
            lambda: now.__setitem__(0, REPEAT_S),  # ... until REPEAT_S passed
        ],
    )
    assert client.patches == [
        ("default", "waiting", "0"),
        ("default", "rejected", "1"),
        ("default", "rejected", "2"),
    ]
    assert requeuer.metrics.requeued._value.get() == 3


def test_a_standby_stamps_nothing(monkeypatch):
    monkeypatch.setattr(requeue_module, "ROUND_S", 0.01)
    client = FakeClient([tried(share("waiting", 25, 1024))])
    requeuer = Requeuer(client, ExtenderMetrics(), serving=lambda: True, leading=lambda: False)
    rounds(requeuer, [lambda: requeuer.rejected_pod(share("r", 50, 1024)), requeuer.freed])
    assert client.patches == []
