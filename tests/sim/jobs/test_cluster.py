"""The simulated cluster behind ``tidewise job``: what each running job has cost so far."""

import pytest

from tests.factories import job_spec
from tidewise.capacity.costshare import PricedNode, node_parts, unit_prices
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.model import Job, JobPhase, Resources
from tidewise.sim.jobs.cluster import SimJobCluster


def test_a_job_holding_a_whole_node_has_cost_the_node_s_price_and_shares_split_it():
    sim = SimJobCluster(epoch_unix_s=0.0)
    node = sim.offering.instance_type
    whole = Resources(
        cpu_milli=node.vcpus * 1000, memory_mib=node.memory_mib, gpu_count=node.gpu_count
    )
    sim.jobs["whole"] = Job(job_spec("whole", worker=whole), JobPhase.QUEUING, 0.0)
    sim.jobs["quarter"] = Job(job_spec("quarter", 2), JobPhase.QUEUING, 0.0)
    sim.jobs["waits"] = Job(job_spec("waits", 8, workers=2), JobPhase.QUEUING, 0.0)
    sim.reconcile(0.0)
    costs = sim.cost_so_far_usd(7200.0)
    assert set(costs) == {"whole", "quarter"}  # a waiting job has cost nothing
    assert costs["whole"] == pytest.approx(2 * sim.offering.price_per_hour)
    # 2 of the 8 GPUs, 4 of the 96 CPUs, 16 GiB: each part of the node's price by its share
    parts = node_parts(
        PricedNode("n", sim.offering.price_per_hour, node.capacity),
        unit_prices(load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws").offerings),
    )
    hourly = parts.gpu * 2 / 8 + parts.cpu * 4 / 96 + parts.memory * 16 / (node.memory_mib / 1024)
    assert costs["quarter"] == pytest.approx(2 * hourly)
