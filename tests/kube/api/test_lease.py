"""Leader election on a Lease as client-go's elector does it (tools/leaderelection): a
candidate judges the holder by its own clock (how long since it last saw the record change),
never by the ``renewTime`` the holder wrote, so replicas whose clocks disagree still agree on
one leader; a holder that cannot renew within the renew deadline, or sees another holder in
the Lease, stops leading."""

import asyncio
import datetime

import pytest
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import Status
from lightkube.resources.coordination_v1 import Lease

from tidewise.kube.api.lease import LeaseElector

HOUR = datetime.timedelta(hours=1)
NAMESPACE = "tidewise-system"


def api_error(code: int) -> ApiError:
    return ApiError(status=Status(code=code, message=f"HTTP {code}"))


class LeaseApi:
    """The API server's side of one Lease: optimistic concurrency on resourceVersion."""

    def __init__(self) -> None:
        self.stored: dict | None = None
        self.version = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("the API server is away")

    async def get(self, kind, name, namespace=None):
        self._check()
        if self.stored is None:
            raise api_error(404)
        return Lease.from_dict(self.stored)

    async def create(self, lease):
        self._check()
        if self.stored is not None:
            raise api_error(409)
        self._store(lease)
        return lease

    async def replace(self, lease):
        self._check()
        if lease.metadata.resourceVersion != self.stored["metadata"]["resourceVersion"]:
            raise api_error(409)
        self._store(lease)
        return lease

    def _store(self, lease) -> None:
        self.version += 1
        body = lease.to_dict()
        body["metadata"]["resourceVersion"] = str(self.version)
        self.stored = body

    def holder(self) -> str | None:
        return (self.stored or {}).get("spec", {}).get("holderIdentity")

    def write_holder(self, identity: str, renew: datetime.datetime) -> None:
        """Someone else writes the Lease (another replica, or a person)."""
        spec = self.stored["spec"]
        spec["holderIdentity"] = identity
        spec["renewTime"] = renew.isoformat().replace("+00:00", "Z")
        self.version += 1
        self.stored["metadata"]["resourceVersion"] = str(self.version)


class Clock:
    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s


T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def elector(api, identity, local, skew=datetime.timedelta(0)):
    """A replica whose wall clock is ``skew`` off the others'; ``local`` is its monotonic
    clock (the same rate for every replica, as client-go assumes)."""
    return LeaseElector(
        api,
        NAMESPACE,
        identity,
        duration_s=15,
        renew_deadline_s=10,
        retry_s=2,
        wall=lambda: T0 + datetime.timedelta(seconds=local.s) + skew,
        monotonic=local,
    )


def run(step):
    return asyncio.run(step)


@pytest.mark.parametrize("skew", [HOUR, -HOUR], ids=["ahead", "behind"])
def test_a_replica_with_a_skewed_clock_never_takes_a_lease_that_is_being_renewed(skew):
    api, local = LeaseApi(), Clock()
    a, b = elector(api, "a", local), elector(api, "b", local, skew)
    assert run(a.try_acquire_or_renew()) and a.leading()
    for _ in range(30):  # a minute of renewals every 2 s
        local.s += 2
        assert run(a.try_acquire_or_renew()) and a.leading()
        assert not run(b.try_acquire_or_renew()) and not b.leading()
    assert api.holder() == "a"


@pytest.mark.parametrize("skew", [HOUR, -HOUR], ids=["ahead", "behind"])
def test_the_lease_is_taken_after_its_duration_of_local_time_without_a_change(skew):
    api, local = LeaseApi(), Clock()
    a, b = elector(api, "a", local, skew), elector(api, "b", local)
    assert run(a.try_acquire_or_renew())
    assert not run(b.try_acquire_or_renew())  # b first sees the record now
    local.s += 14  # a died: no renewal since
    assert not run(b.try_acquire_or_renew())
    local.s += 1.5
    assert run(b.try_acquire_or_renew()) and b.leading()
    assert api.holder() == "b"
    assert api.stored["spec"]["leaseTransitions"] == 1


def test_a_leader_that_cannot_renew_steps_down_at_the_renew_deadline_before_any_takeover():
    api, local = LeaseApi(), Clock()
    a, b = elector(api, "a", local), elector(api, "b", local)
    assert run(a.try_acquire_or_renew())
    assert not run(b.try_acquire_or_renew())
    api.down = True
    for _ in range(4):  # 8 s of failed renewals: still within the 10 s deadline
        local.s += 2
        with pytest.raises(ConnectionError):
            run(a.try_acquire_or_renew())
        assert a.leading(), "a blip shorter than the renew deadline costs the lease"
    local.s += 2.5
    assert not a.leading(), "still leading past the renew deadline"
    api.down = False
    local.s += 4.6  # b saw no change for 15.1 s: it may take the Lease now, a stopped before
    assert run(b.try_acquire_or_renew()) and b.leading()
    assert not run(a.try_acquire_or_renew()) and not a.leading()


def test_a_leader_steps_down_at_once_when_another_holder_writes_the_lease():
    api, local = LeaseApi(), Clock()
    a = elector(api, "a", local)
    assert run(a.try_acquire_or_renew())
    api.write_holder("intruder", T0)  # a renewTime far in the past changes nothing
    local.s += 2
    assert not run(a.try_acquire_or_renew())
    assert not a.leading()
    local.s += 14  # the intruder stopped: a judges it by a's own clock since it saw the write
    assert not run(a.try_acquire_or_renew())
    local.s += 2
    assert run(a.try_acquire_or_renew()) and a.leading()


def test_release_lets_a_candidate_take_the_lease_at_once():
    api, local = LeaseApi(), Clock()
    a, b = elector(api, "a", local), elector(api, "b", local)
    assert run(a.try_acquire_or_renew())
    assert not run(b.try_acquire_or_renew())
    run(a.release())
    assert not a.leading()
    assert api.holder() is None and api.stored["spec"]["leaseDurationSeconds"] == 1
    assert run(b.try_acquire_or_renew()) and b.leading()


def test_timings_must_leave_the_renew_deadline_inside_the_lease():
    with pytest.raises(ValueError, match="renew deadline"):
        LeaseElector(LeaseApi(), NAMESPACE, "a", duration_s=10, renew_deadline_s=10, retry_s=2)
