"""``listed`` waits out a 429 as client-go does, and passes every other refusal on."""

import httpx2
import pytest
from lightkube import ApiError
from lightkube.resources.core_v1 import Node

from tidewise.kube.api.reads import RETRIES, listed


def refusal(code: int, retry_after: int | None = None) -> ApiError:
    details = {"retryAfterSeconds": retry_after} if retry_after is not None else {}
    body = {"kind": "Status", "code": code, "message": "storage is (re)initializing"}
    request = httpx2.Request("GET", "https://api/api/v1/nodes")
    return ApiError(
        response=httpx2.Response(code, json=body | {"details": details}, request=request)
    )


class Answers:
    """A client whose LIST raises the given refusals in turn, then answers one node."""

    def __init__(self, *refusals: ApiError) -> None:
        self.refusals = list(refusals)

    def list(self, resource, **options):
        if self.refusals:
            raise self.refusals.pop(0)
        return [Node(metadata={"name": "n"})]


def test_a_429_is_asked_again_after_the_seconds_the_server_names():
    waits: list[float] = []
    client = Answers(refusal(429, 3), refusal(429))
    assert [n["metadata"]["name"] for n in listed(client, Node, waits.append)] == ["n"]
    assert waits == [3.0, 1.0]


def test_other_refusals_and_a_429_past_the_retries_are_raised():
    with pytest.raises(ApiError):
        listed(Answers(refusal(403)), Node, lambda _: None)
    waits: list[float] = []
    with pytest.raises(ApiError):
        listed(Answers(*[refusal(429, 1)] * (RETRIES + 1)), Node, waits.append)
    assert len(waits) == RETRIES
