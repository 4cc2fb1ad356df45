"""A launch that fails is forgotten, its offering backed off (cluster-autoscaler's node group
backoff), and what it was for is bought elsewhere: one failure never stops provisioning."""

import asyncio

from prometheus_client import CollectorRegistry

from tests.kube.provider.fakes import (
    OPTIONS,
    Clock,
    FakeApi,
    api_error,
    offerings,
    pending_pod,
    settle,
)
from tidewise.capacity import NodeAutoscaler
from tidewise.kube.provider import KwokProvider, Provisioner
from tidewise.kube.provider.backoff import LaunchBackoff
from tidewise.kube.provider.metrics import ProvisionerMetrics
from tidewise.model import Drain, Launch


def setup(boot_delay_s: float):
    api, clock, registry = FakeApi(), Clock(), CollectorRegistry()
    api.add("Pod", pending_pod("web-1"))
    catalog = offerings("m6i.large")
    provider = KwokProvider(api, catalog, boot_delay_s=boot_delay_s, clock=clock)
    provisioner = Provisioner(
        api,
        provider,
        NodeAutoscaler(OPTIONS),
        catalog,
        clock=clock,
        backoff=LaunchBackoff(initial_s=300, max_s=1800),
        metrics=ProvisionerMetrics(registry),
    )
    return api, clock, registry, provider, provisioner


def launches(decisions) -> list[Launch]:
    return [d for d in decisions if isinstance(d, Launch)]


def failures(registry, offering: str, reason: str) -> float | None:
    labels = {"offering": offering, "reason": reason}
    return registry.get_sample_value("tidewise_launch_failures_total", labels)


def test_a_refused_node_create_is_forgotten_backed_off_and_bought_elsewhere():
    async def scenario():
        api, clock, registry, provider, provisioner = setup(boot_delay_s=0)
        api.refuse["Node"] = api_error(403, 'nodes is forbidden: User "x" cannot create')
        (first,) = launches(await provisioner.reconcile())
        await settle()  # the machine boots and its Node is refused
        del api.refuse["Node"]
        clock.s += 10
        (again,) = launches(await provisioner.reconcile())
        assert again.offering.key != first.offering.key, "the failed offering was not backed off"
        (told,) = api.events("FailedLaunch")
        assert told["type"] == "Warning" and first.offering.key in told["message"]
        assert "forbidden" in told["message"]
        assert failures(registry, first.offering.key, "error") == 1
        gauge = registry.get_sample_value("tidewise_offerings_backed_off")
        assert gauge == 1
        await settle()
        assert [i.offering.key for i in await provider.list()] == [again.offering.key]
        clock.s += 301  # the backoff is over: the offering may be bought again
        assert registry.get_sample_value("tidewise_offerings_backed_off") == 1
        await provisioner.reconcile()
        assert registry.get_sample_value("tidewise_offerings_backed_off") == 0

    asyncio.run(scenario())


def test_a_machine_that_never_registers_is_given_back_and_its_offering_backed_off():
    async def scenario():
        api, clock, registry, provider, provisioner = setup(boot_delay_s=10**9)
        (first,) = launches(await provisioner.reconcile())
        clock.s += 901  # past cluster-autoscaler's --max-node-provision-time (15 min)
        decisions = await provisioner.reconcile()
        assert [d.reason for d in decisions if isinstance(d, Drain)] == ["never became ready"]
        await settle()
        assert not api.events("DrainFailed"), "a machine without a Node was drained as a Node"
        assert await provider.list() == [], "the machine was not given back"
        (told,) = api.events("FailedLaunch")
        assert "not Ready 901 s after its launch" in told["message"]
        assert failures(registry, first.offering.key, "timeout") == 1
        (again,) = launches(await provisioner.reconcile())
        assert again.offering.key != first.offering.key

    asyncio.run(scenario())
