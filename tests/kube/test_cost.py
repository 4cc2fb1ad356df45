"""How ``tidewise cost`` reads nodes and pods from the API: prices by the provider's labels,
a note for each node priced approximately or not at all, and only pods that hold resources."""

import datetime
import statistics

import pytest

from tests.cli.run import tidewise
from tidewise.capacity.costshare import PricedNode, node_parts, unit_prices
from tidewise.catalog import builtin_catalog_path, load_catalog
from tidewise.kube.api.resources import node_capacity
from tidewise.kube.cost import (
    cluster_cost,
    cost_so_far_usd,
    placed_pods,
    price_nodes,
    serverless_usage,
)

CATALOG = load_catalog(builtin_catalog_path("aws-us-east-1"), provider="aws")


def node(name, labels):
    allocatable = {"cpu": "4", "memory": "16Gi"}
    return {"metadata": {"name": name, "labels": labels}, "status": {"allocatable": allocatable}}


def m6i(zone, option="spot"):
    return {
        "node.kubernetes.io/instance-type": "m6i.xlarge",
        "topology.kubernetes.io/zone": zone,
        "karpenter.sh/capacity-type": option,
    }


def test_nodes_are_priced_by_type_zone_and_capacity_type_with_a_note_where_approximate():
    nodes = [
        node("exact", m6i("use1-az1")),
        node("zone-name", m6i("us-east-1a")),
        node("unlabelled", {"node.kubernetes.io/instance-type": "m6i.xlarge"}),
        node("unknown", {"node.kubernetes.io/instance-type": "m6i.huge"}),
    ]
    priced = price_nodes(nodes, CATALOG)
    prices = {n.name: n.usd_per_hour for n in priced.nodes}
    spot = [
        o.price_per_hour
        for o in CATALOG.offerings
        if o.instance_type.name == "m6i.xlarge" and o.option.value == "spot"
    ]
    assert prices["exact"] == CATALOG.offering("m6i.xlarge", "use1-az1", "spot").price_per_hour
    assert prices["zone-name"] == pytest.approx(statistics.fmean(spot))
    assert prices["unlabelled"] == pytest.approx(0.192)  # on-demand, the mean of its zones
    assert "unknown" not in prices
    assert priced.notes == [
        "zone-name: zone 'us-east-1a' unknown; priced at the mean of m6i.xlarge's zones",
        "unlabelled: zone '' unknown; priced at the mean of m6i.xlarge's zones",
        "unknown: instance type 'm6i.huge' not in the aws catalog",
    ]


def test_only_bound_pods_that_have_not_finished_are_charged():
    def pod(name, node_name, phase):
        spec = {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}
        if node_name:
            spec["nodeName"] = node_name
        return {
            "metadata": {"name": name, "namespace": "a", "labels": {"team": "x"}},
            "spec": spec,
            "status": {"phase": phase},
        }

    placed = placed_pods(
        [pod("run", "n1", "Running"), pod("wait", None, "Pending"), pod("done", "n1", "Succeeded")]
    )
    assert [(p.name, p.node, p.requests.cpu_milli, p.labels) for p in placed] == [
        ("run", "n1", 1000, {"team": "x"})
    ]


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ("missing.csv", "missing.csv does not exist"),
        ("binary.csv", "binary.csv: not UTF-8 text"),
        ("builtin:nope", "unknown 'builtin:nope'"),
    ],
)
def test_a_bad_catalog_is_one_line_naming_the_flag_before_the_cluster_is_asked(
    tmp_path, catalog, message
):
    (tmp_path / "binary.csv").write_bytes(b"\x80\x81\x82")
    out = tidewise("cost", "--catalog", catalog, "--kubeconfig", "nowhere", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("error: --catalog: "), out.stderr
    assert message in out.stderr
    assert out.stderr.count("\n") == 1


def test_a_pod_s_cost_so_far_is_its_hourly_share_times_the_hours_since_it_started():
    def pod(name, cpu, started, node_name="n", finished=None):
        status = {"phase": "Running" if started else "Pending", "startTime": started}
        if finished:
            ended = {"state": {"terminated": {"finishedAt": finished}}}
            status |= {"phase": "Succeeded", "containerStatuses": [ended]}
        return {
            "metadata": {"name": name, "namespace": "ml"},
            "spec": {
                "nodeName": node_name,
                "containers": [{"resources": {"requests": {"cpu": cpu}}}],
            },
            "status": status,
        }

    on_demand = {**m6i("use1-az1", "on-demand")}
    nodes = [node("n", on_demand)]
    price = CATALOG.offering("m6i.xlarge", "use1-az1", "on-demand").price_per_hour
    now = 1_700_007_200.0  # two hours after the first pod started
    costs = cost_so_far_usd(
        nodes,
        [
            pod("whole", "4", "2023-11-14T22:13:20Z"),
            pod("pending", "1", None, None),
            pod("done", "2", "2023-11-14T22:13:20Z", finished="2023-11-14T23:13:20Z"),
        ],
        CATALOG,
        now,
    )
    # all 4 CPUs and no memory: the node's CPU part, for 2 h; a pod not started costs nothing;
    # one that ran 1 h on half the CPUs, priced alone on its node, half the CPU part for 1 h
    assert set(costs) == {("ml", "whole"), ("ml", "done")}
    cpu_part = node_parts(
        PricedNode("n", price, node_capacity(nodes[0])), unit_prices(CATALOG.offerings)
    ).cpu
    assert costs[("ml", "whole")] == pytest.approx(2 * cpu_part)
    assert costs[("ml", "done")] == pytest.approx(0.5 * cpu_part)


def test_a_virtual_node_is_no_machine_and_its_pods_are_counted_by_the_pod_second():
    virtual = {
        "metadata": {"name": "vk", "labels": {"type": "virtual-kubelet"}},
        "spec": {"taints": [{"key": "virtual-kubelet.io/provider", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "1000", "memory": "4Ti"}},
    }
    nodes = [virtual, node("exact", m6i("use1-az1"))]
    priced = price_nodes(nodes, CATALOG)
    assert [n.name for n in priced.nodes] == ["exact"] and priced.notes == []

    def pod(name, node_name, start):
        spec = {"nodeName": node_name, "containers": [{"resources": {"requests": {"cpu": "1"}}}]}
        status = {"phase": "Running", **({"startTime": start} if start else {})}
        return {"metadata": {"name": name, "namespace": "a"}, "spec": spec, "status": status}

    pods = [
        pod("burst", "vk", "2026-12-02T20:00:00Z"),
        pod("new", "vk", None),  # the virtual kubelet has not reported a start yet
        pod("vm", "exact", "2026-12-02T19:00:00Z"),
    ]
    now = datetime.datetime(2026, 12, 2, 20, 1, 30, tzinfo=datetime.UTC).timestamp()
    usage = serverless_usage(nodes, pods, now)
    assert usage.virtual_nodes == {"vk"}
    assert [p.name for p in usage.pods] == ["burst", "new"]
    assert usage.seconds == {("a", "burst"): 90.0, ("a", "new"): 0.0}


def test_the_exporter_publishes_one_pass_and_a_standby_exports_nothing():
    from prometheus_client import CollectorRegistry

    from tidewise.kube.cost import CostExporter, cluster_cost, label_name

    registry = CollectorRegistry()
    exporter = CostExporter(None, registry, CATALOG, ["team", "app.kubernetes.io/name"])  # type: ignore[arg-type]
    assert label_name("app.kubernetes.io/name") == "label_app_kubernetes_io_name"
    pod = {
        "metadata": {"name": "web", "namespace": "a", "labels": {"team": "x"}},
        "spec": {"nodeName": "n", "containers": [{"resources": {"requests": {"cpu": "2"}}}]},
        "status": {"phase": "Running"},
    }
    exporter.publish(cluster_cost([node("n", m6i("use1-az1"))], [pod], CATALOG, 0.0))
    labels = {"namespace": "a", "pod": "web", "node": "n", "resource": "cpu"}
    labels |= {"label_team": "x", "label_app_kubernetes_io_name": ""}
    cpu = registry.get_sample_value("tidewise_pod_cost_usd_per_hour", labels)
    node_usd = registry.get_sample_value("tidewise_node_cost_usd_per_hour", {"node": "n"})
    assert cpu is not None and node_usd is not None and 0 < cpu < node_usd
    exporter.forget()  # leadership lost: the next leader reports the cluster, not both
    assert registry.get_sample_value("tidewise_pod_cost_usd_per_hour", labels) is None


def test_a_job_pod_on_a_virtual_node_costs_its_serverless_bill_so_far_running_or_finished():
    """``job list`` prices a pod as ``tidewise cost`` does: on a virtual node, per pod-second
    at the serverless price (it once cost $0 there, being no share of any priced node)."""
    virtual = {
        "metadata": {"name": "vk", "labels": {"type": "virtual-kubelet"}},
        "spec": {"taints": [{"key": "virtual-kubelet.io/provider", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "1000", "memory": "4Ti"}},
    }

    def pod(name, finished=None):
        spec = {
            "nodeName": "vk",
            "containers": [{"resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}],
        }
        status = {"phase": "Running", "startTime": "2026-12-02T20:00:00Z"}
        if finished:
            ended = {"state": {"terminated": {"finishedAt": finished}}}
            status |= {"phase": "Succeeded", "containerStatuses": [ended]}
        return {"metadata": {"name": name, "namespace": "ml"}, "spec": spec, "status": status}

    now = datetime.datetime(2026, 12, 2, 22, 0, 0, tzinfo=datetime.UTC).timestamp()
    pods = [pod("running"), pod("done", finished="2026-12-02T21:00:00Z")]
    costs = cost_so_far_usd([virtual], pods, CATALOG, now)
    hourly = cluster_cost([virtual], pods[:1], CATALOG, now).billed[("ml", "running")].total
    assert hourly > 0
    assert costs[("ml", "running")] == pytest.approx(2 * hourly)  # 2 h so far
    assert costs[("ml", "done")] == pytest.approx(1 * hourly)  # ran 1 h, then finished
