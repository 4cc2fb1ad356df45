"""What the provisioner's rounds tell Prometheus beyond its decisions: how many pods wait for a
node and for how long (deploy/prometheus's TidewisePodsPendingTooLong), and what the machines
held cost against the configured budget (TidewiseBudgetOverrun)."""

import asyncio
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from tests.kube.provider.fakes import OPTIONS, Clock, FakeApi, offerings, pending_pod, settle
from tidewise.capacity import NodeAutoscaler
from tidewise.cli.compose import Configured, OperatorConfig, provisioner_factory
from tidewise.kube.provider import KwokProvider, Provisioner
from tidewise.kube.provider.metrics import ProvisionerMetrics


def created(pod: dict, unix_s: float) -> dict:
    stamp = datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pod["metadata"]["creationTimestamp"] = stamp
    return pod


def test_pending_pods_their_age_and_the_hourly_cost_of_the_machines_held():
    async def scenario():
        api, clock, registry = FakeApi(), Clock(), CollectorRegistry()
        catalog = offerings("m6i.large")
        provider = KwokProvider(api, catalog, boot_delay_s=0, clock=clock)
        metrics = ProvisionerMetrics(registry)
        provisioner = Provisioner(
            api, provider, NodeAutoscaler(OPTIONS), catalog, clock=clock, metrics=metrics
        )
        value = registry.get_sample_value
        assert value("tidewise_pending_pods") == 0
        api.add("Pod", created(pending_pod("web-1"), clock.s - 40))
        api.add("Pod", created(pending_pod("web-2"), clock.s - 5))
        await provisioner.reconcile()
        assert value("tidewise_pending_pods") == 2
        assert value("tidewise_oldest_pending_pod_seconds") == 40
        await settle()
        clock.s += 10
        await provisioner.reconcile()
        (held,) = await provider.list()
        assert value("tidewise_nodes_usd_per_hour") == held.offering.price_per_hour > 0
        assert value("tidewise_budget_usd_per_hour") == 0, "no budget configured"

    asyncio.run(scenario())


def test_the_configured_budget_is_exported(tmp_path):
    config = OperatorConfig.model_validate({"provisioner": {"budget_usd_per_hour": 12.5}})
    registry = CollectorRegistry()
    make = provisioner_factory(Configured(config, tmp_path))
    make(FakeApi(), ProvisionerMetrics(registry))
    assert registry.get_sample_value("tidewise_budget_usd_per_hour") == 12.5
