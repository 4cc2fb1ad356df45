"""``tidewise job logs --cluster kube``: which pod's log is asked for, and how, of a client
that answers as the API server would (no kubelet serves logs in the test control plane)."""

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from lightkube.core.exceptions import ApiError
from lightkube.resources.batch_v1 import Job as KubeJob
from lightkube.resources.core_v1 import Pod

from tidewise.kube.jobs.client import JobClientError, logs
from tidewise.kube.jobs.observe import JOB_LABEL


class FakeClient:
    def __init__(self, pods: list[str], jobs: list[str], waiting: bool = False) -> None:
        self.pods, self.jobs, self.waiting = pods, jobs, waiting
        self.asked: list[dict[str, Any]] = []

    def list(self, kind: Any, namespace: str, labels: dict[str, Any]) -> Iterator[Any]:
        if kind is Pod:
            assert labels == {JOB_LABEL: "bert"} and namespace == "ml"
            return iter(
                SimpleNamespace(to_dict=lambda p=p: {"metadata": {"name": p}}) for p in self.pods
            )
        names = self.jobs if kind is KubeJob else []
        return iter(
            SimpleNamespace(to_dict=lambda n=n: {"metadata": {"name": n}, "kind": "Job"})
            for n in names
        )

    def log(self, name: str, **options: Any) -> Iterator[str]:
        self.asked.append({"name": name, **options})
        if self.waiting:
            response = SimpleNamespace(
                json=lambda: {"message": f'container "main" in pod "{name}" is waiting to start'}
            )
            raise ApiError(request=None, response=response)  # type: ignore[arg-type]
        return iter(["step 1 loss 2.3", "step 2 loss 1.9"])


def test_the_worker_is_picked_in_name_order_and_the_options_passed_on():
    client = FakeClient(["bert-worker-1", "bert-master-0", "bert-worker-0"], ["bert"])
    lines = list(logs(client, "bert", "ml", worker=1, follow=True, tail=50))  # type: ignore[arg-type]
    assert lines == ["step 1 loss 2.3", "step 2 loss 1.9"]
    assert client.asked == [
        {
            "name": "bert-worker-0",
            "namespace": "ml",
            "follow": True,
            "tail_lines": 50,
            "newlines": False,
        }
    ]


@pytest.mark.parametrize(
    ("pods", "jobs", "worker", "says"),
    [
        ([], [], 0, "NAME: no job 'bert' in ml"),
        ([], ["bert"], 0, "NAME: job 'bert' has no pods yet; `tidewise job get bert`"),
        (["bert-0"], ["bert"], 3, "--worker: job 'bert' has pods 0 to 0; got 3"),
    ],
)
def test_what_is_missing_is_named_in_one_line(pods, jobs, worker, says):
    client = FakeClient(pods, jobs)
    with pytest.raises(JobClientError, match="^" + says.replace("(", r"\(")):
        list(logs(client, "bert", "ml", worker, follow=False, tail=None))  # type: ignore[arg-type]


def test_a_container_not_started_yet_is_the_api_server_s_own_words():
    client = FakeClient(["bert-0"], ["bert"], waiting=True)
    with pytest.raises(JobClientError, match='pod bert-0: container "main" in pod "bert-0" is'):
        list(logs(client, "bert", "ml", 0, follow=False, tail=None))  # type: ignore[arg-type]
