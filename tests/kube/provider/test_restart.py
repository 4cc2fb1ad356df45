"""What the provisioner knows survives its process: a machine is recorded before it is
bought (Karpenter's NodeClaim, kwok's Machine), an interruption's deadline is written on the
node when first seen, a replacement bought for a noticed node is written on that node; a new
process (a restart, or a successor taking the Lease) rebuilds from them and buys nothing
twice, drains nothing late."""

import asyncio

from tests.kube.provider.fakes import (
    OPTIONS,
    Clock,
    FakeApi,
    api_error,
    bound_pod,
    offerings,
    pending_pod,
    ready,
    settle,
)
from tidewise.capacity import NodeAutoscaler
from tidewise.capacity.interruptions import InterruptionHandler
from tidewise.kube.provider import KwokProvider, Provisioner
from tidewise.model import Drain, Launch


def process(api, clock, boot_delay_s, catalog, interruptions=False):
    """One provisioner process: its provider and provisioner, nothing shared but the API."""
    provider = KwokProvider(api, catalog, boot_delay_s=boot_delay_s, clock=clock)
    handler = InterruptionHandler(OPTIONS) if interruptions else None
    provisioner = Provisioner(
        api, provider, NodeAutoscaler(OPTIONS), catalog, clock=clock, interruptions=handler
    )
    return provider, provisioner


async def crash() -> None:
    """The process dies: every task it started stops where it was."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def launches(decisions):
    return [d for d in decisions if isinstance(d, Launch)]


def test_a_restart_while_a_machine_boots_buys_nothing_twice_and_the_machine_registers():
    async def scenario():
        api, clock, catalog = FakeApi(), Clock(), offerings("m6i.large")
        api.add("Pod", pending_pod("web-1"))
        _, first = process(api, clock, 30.0, catalog)
        (bought,) = launches(await first.reconcile())
        await settle()
        assert not api.names("Node"), "registered before its boot"
        await crash()
        clock.s += 10  # a new process, 10 s into the boot
        provider, second = process(api, clock, 30.0, catalog)
        assert launches(await second.reconcile()) == [], "bought again after a restart"
        (held,) = await provider.list()
        assert held.offering.key == bought.offering.key and held.launched_s == 1000.0
        clock.s += 25  # the boot is over by the first process's launch time
        await second.reconcile()
        await settle()
        assert len(api.names("Node")) == 1
        assert [n.name for n in await provider.list()] == [held.name]

    asyncio.run(scenario())


def test_the_machine_is_recorded_before_it_is_bought():
    async def scenario():
        api, clock, catalog = FakeApi(), Clock(), offerings("m6i.large")
        provider, _ = process(api, clock, 0.0, catalog)
        api.refuse["Machine"] = api_error(503, "etcd is away")
        try:
            await provider.launch(catalog[0])
        except Exception:
            pass
        else:
            raise AssertionError("a launch whose record failed went on")
        await settle()
        assert not api.names("Node"), "a machine was bought without its record"

    asyncio.run(scenario())


def test_an_interruption_deadline_survives_a_restart():
    async def scenario():
        api, clock, catalog = FakeApi(), Clock(), offerings("m6i.large")
        api.add("Pod", pending_pod("web-1"))
        provider, first = process(api, clock, 0.0, catalog)
        assert len(launches(await first.reconcile())) == 1
        await settle()
        (name,) = api.names("Node")
        await provider.interrupt(name, notice_s=120)
        (notice,) = await provider.notices()
        assert notice.deadline_s == 1120.0
        await crash()
        clock.s += 60
        again, _ = process(api, clock, 0.0, catalog)
        (kept,) = await again.notices()
        assert kept.deadline_s == 1120.0, "the restart moved the reclaim's deadline"

    asyncio.run(scenario())


def test_a_replacement_bought_before_a_restart_is_not_bought_again():
    async def scenario():
        api, clock = FakeApi(), Clock()
        catalog = offerings("m6i.large", "m6i.xlarge")
        spot = min((o for o in catalog if o.option == "spot"), key=lambda o: o.price_per_hour)
        provider, first = process(api, clock, 0.0, catalog, interruptions=True)
        noticed = await provider.launch(spot)
        await settle()
        ready(api)
        api.add("Pod", bound_pod("web-1", noticed))
        await provider.interrupt(noticed, notice_s=120)
        assert len(launches(await first.reconcile())) == 1  # the replacement
        await settle()
        ready(api)  # the replacement registered and is Ready, still empty
        await crash()
        clock.s += 5
        _, second = process(api, clock, 0.0, catalog, interruptions=True)
        decisions = await second.reconcile()
        assert launches(decisions) == [], "a second replacement was bought after the restart"
        assert [d.node for d in decisions if isinstance(d, Drain)] == [noticed]

    asyncio.run(scenario())
