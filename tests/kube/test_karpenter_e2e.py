"""Karpenter buys kwok nodes for the test control plane from tidewise's catalog, steered by
tidewise's rendered NodePools and NodeOverlays."""

from collections import Counter
from pathlib import Path

import pytest
import yaml
from lightkube import ApiError, Client
from lightkube.resources.core_v1 import Node, Pod

from tests.kube.karpenter import (
    KWOK_CLASS,
    NodeOverlay,
    NodePool,
    apply,
    claims_of,
    condition,
    events_about,
    managers,
    overlay_applied,
    pending_workload,
    pool,
    steering_config,
    steering_operator,
)
from tests.kube.kwok import wait_for
from tidewise.capacity.karpenter import render
from tidewise.capacity.karpenter import scheduling as modelled
from tidewise.capacity.karpenter.overlays import MANAGED_BY, spot_risk_overlays
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.catalog import Catalog
from tidewise.cli.sim import default_scenario_path
from tidewise.kube.controllers.karpenter import FIELD_MANAGER
from tidewise.model import Offering, PodPhase, PurchaseOption, Resources
from tidewise.model import Pod as PendingPod
from tidewise.placement.fit import pods_per_node
from tidewise.placement.scheduler import CPU_PODS_ON_GPU_NODES
from tidewise.sim.services.karpenter import karpenter_policy
from tidewise.sim.services.scenario import load_scenario

pytestmark = pytest.mark.e2e

COMMITTED = "m6i.xlarge"  # the bundled scenario's reserved floor: one m6i.xlarge
COMMITMENT = f"tidewise-commitment-{COMMITTED}"
SPOT_ALIKE = ("m6i.2xlarge", "c6i.2xlarge")
"""Spot pools 3 % apart in price, in the >20 % and 5-10 % interruption bands."""


def cheapest(offerings: list[Offering], requests: Resources) -> list[Offering]:
    """Every offering at the lowest price among those whose type can host the pod: what a
    provisioner that buys the cheapest fitting node may buy."""
    fitting = [
        o
        for o in offerings
        if pods_per_node(
            o.instance_type.capacity, requests, cpu_pods_on_gpu_nodes=CPU_PODS_ON_GPU_NODES
        )
    ]
    low = min(o.price_per_hour for o in fitting)
    return [o for o in fitting if o.price_per_hour == low]


def bought_for(kube: Client, namespace: str, app: str, pool_name: str, known: set[str]):
    """Wait for the NodeClaim Karpenter makes for ``app``'s replica and for the replica to
    run on its node; returns the claim (a new one: not in ``known``)."""
    found = {}

    def launched() -> bool:
        fresh = [c for c in claims_of(kube, pool_name) if c.metadata.name not in known]
        if fresh and condition(fresh[0], "Initialized"):
            found["claim"] = fresh[0]
        return "claim" in found

    wait_for(f"a node for {app}", launched)
    claim = found["claim"]
    node = claim["status"]["nodeName"]

    def running() -> bool:
        pods = kube.list(Pod, namespace=namespace, labels={"app": app})
        return any(p.spec.nodeName == node and p.status.phase == "Running" for p in pods)

    wait_for(f"{app} running on {node}", running)
    return claim


def test_rendered_objects_pass_the_api_server_s_own_validation(kube, installed):
    """Server-side dry run of the default scenario's render: schema and CEL rules of the
    pinned CRDs; an overlay with both price and priceAdjustment is refused."""
    scenario, base = load_scenario(default_scenario_path())
    rendered = render(karpenter_policy(scenario, base, KWOK_CLASS))
    for obj in rendered:
        answer = apply(kube, obj, dry_run=True)
        assert answer.metadata.name == obj["metadata"]["name"]
    overlay = next(o for o in rendered if "priceAdjustment" in o["spec"])
    overlay["spec"]["price"] = "1.5"
    with pytest.raises(ApiError, match="cannot set both 'price' and 'priceAdjustment'"):
        apply(kube, overlay, dry_run=True)


def test_a_pending_pod_makes_karpenter_buy_the_cheapest_fitting_node(kube, karpenter, catalog):
    """Upstream's kwok Karpenter, every catalog type allowed: the pod's node is the cheapest
    offering that fits it, at the catalog's price, and the pod runs there."""
    namespace = karpenter
    types = sorted(set(catalog.instance_types) - {"serverless"})
    apply(kube, pool("e2e-cheapest", types, catalog))
    requests = Resources(cpu_milli=1500, memory_mib=3072)
    bought = (PurchaseOption.ON_DEMAND, PurchaseOption.SPOT)
    expected = cheapest([o for o in catalog.offerings if o.option in bought], requests)
    assert len({o.instance_type.name for o in expected}) == 1, "the test needs one cheapest type"
    selector = {"tidewise.io/node-pool": "e2e-cheapest"}
    kube.create(pending_workload("web", requests, selector), namespace=namespace)
    claim = bought_for(kube, namespace, "web", "e2e-cheapest", set())
    labels = claim["metadata"]["labels"]
    assert labels["node.kubernetes.io/instance-type"] == expected[0].instance_type.name
    assert labels["karpenter.sh/capacity-type"] == expected[0].option.value
    assert labels["topology.kubernetes.io/zone"] in {o.zone for o in expected}
    assert all(condition(claim, c) for c in ("Launched", "Registered", "Initialized"))
    node = kube.get(Node, claim["status"]["nodeName"])
    assert (
        node.metadata.labels["node.kubernetes.io/instance-type"]
        == labels["node.kubernetes.io/instance-type"]
    )
    assert float(node.metadata.labels["eks-node-viewer/instance-price"]) == pytest.approx(
        expected[0].price_per_hour, abs=1e-6
    )


def before_and_after_risk(kube: Client, namespace: str, catalog: Catalog):
    """Two spot pools 3 % apart: a pod before tidewise's risk overlays (the twin's band
    weighting) are applied, and one after. Returns both NodeClaims and the types a
    list-price and a risk-priced buyer would pick (checked to differ)."""
    spot = [
        o
        for o in catalog.offerings
        if o.option is PurchaseOption.SPOT and o.instance_type.name in SPOT_ALIKE
    ]
    requests = Resources(cpu_milli=5000, memory_mib=10240)
    by_list = {o.instance_type.name for o in cheapest(spot, requests)}
    weighted = SpotPoolRules().for_planning(spot, [])
    by_risk = {o.instance_type.name for o in cheapest(weighted, requests)}
    assert len(by_list) == len(by_risk) == 1 and by_list != by_risk, "the pools must flip"
    apply(kube, pool("e2e-spot", list(SPOT_ALIKE), catalog))
    selector = {"tidewise.io/node-pool": "e2e-spot", "karpenter.sh/capacity-type": "spot"}
    kube.create(pending_workload("before", requests, selector), namespace=namespace)
    before = bought_for(kube, namespace, "before", "e2e-spot", set())
    overlays = spot_risk_overlays(spot, SpotPoolRules())
    for overlay in overlays:
        apply(kube, overlay)
    for overlay in overlays:
        name = overlay["metadata"]["name"]
        wait_for(f"overlay {name} validated", lambda name=name: overlay_applied(kube, name))
    kube.create(pending_workload("after", requests, selector), namespace=namespace)
    after = bought_for(kube, namespace, "after", "e2e-spot", {before["metadata"]["name"]})
    assert after["metadata"]["labels"]["karpenter.sh/capacity-type"] == "spot"
    assert after["metadata"]["annotations"]["karpenter.sh/price-overlay-applied"] == "true"
    return before, after, by_list, by_risk


def instance_type(claim) -> str:
    return claim["metadata"]["labels"]["node.kubernetes.io/instance-type"]


def test_a_risk_adjustment_flips_karpenter_s_choice_between_spot_pools_priced_alike(
    kube, prioritized_karpenter, catalog
):
    """With the launch following adjusted prices (as on AWS), Karpenter buys the cheaper pool
    first and the calmer one once risk is priced in, as the twin would."""
    before, after, by_list, by_risk = before_and_after_risk(kube, prioritized_karpenter, catalog)
    assert instance_type(before) in by_list
    assert instance_type(after) in by_risk


def test_upstream_kwok_launches_by_list_price_whatever_the_overlays(kube, karpenter, catalog):
    """Why the prioritized command exists: upstream's kwok provider applies the overlays in
    Karpenter's simulation (the NodeClaim says so) yet launches the lowest list price."""
    before, after, by_list, _ = before_and_after_risk(kube, karpenter, catalog)
    assert instance_type(before) in by_list
    assert instance_type(after) in by_list


KWOK_RESERVED = Resources(cpu_milli=100, memory_mib=10)
"""What upstream's kwok provider reserves on every instance type (``kube-reserved`` in
``kwok/cloudprovider/helpers.go``, v1.12.0)."""

BURSTS = {
    "cpu": (12, Resources(cpu_milli=1500, memory_mib=3072)),
    "memory": (3, Resources(cpu_milli=1000, memory_mib=12288)),
    "gpu": (3, Resources(cpu_milli=2000, memory_mib=8192, gpu_count=1)),
}
"""Canned bursts of pending pods: CPU-only (more than the largest CPU type holds), memory-heavy
and whole-GPU."""


def twin_buys(offerings: list[Offering], count: int, requests: Resources) -> Counter:
    """What the twin's ``karpenter`` policy launches for the burst: (type, capacity type) per
    NodeClaim, on kwok's reservation."""
    catalog = modelled.Catalog.of(offerings, kube_reserved=KWOK_RESERVED)
    pods = [PendingPod(f"p{i}", "burst", requests, PodPhase.PENDING, 0.0) for i in range(count)]
    claims = modelled.simulate(pods, [], catalog).claims
    chosen = [modelled.launch_offering(c.offerings(catalog), catalog.pools) for c in claims]
    return Counter((o.instance_type.name, o.option.value) for o in chosen if o is not None)


def claims_for_burst(kube: Client, namespace: str, app: str, pool_name: str, count: int):
    """Wait until the burst's ``count`` replicas run, then the pool's NodeClaims."""

    def running() -> bool:
        pods = kube.list(Pod, namespace=namespace, labels={"app": app})
        return sum(1 for p in pods if p.status.phase == "Running") >= count

    wait_for(f"{count} replicas of {app} running", running, deadline=180)
    return claims_of(kube, pool_name)


def test_the_twin_s_karpenter_buys_the_same_instance_types_as_karpenter(
    kube, prioritized_karpenter, catalog
):
    """The same bursts of pending pods, each on its own NodePool (CPU types for CPU pods,
    GPU types for GPU pods: the twin keeps CPU pods off GPU nodes), buy the same instance
    types and capacity types, NodeClaim for NodeClaim, in the real Karpenter (launching by
    the risk-adjusted price, as on AWS) and in the twin's model of it."""
    namespace = prioritized_karpenter
    overlays = spot_risk_overlays(catalog.offerings, SpotPoolRules())
    for overlay in overlays:
        apply(kube, overlay)
    for overlay in overlays:
        name = overlay["metadata"]["name"]
        wait_for(f"overlay {name} validated", lambda name=name: overlay_applied(kube, name))
    bought = (PurchaseOption.ON_DEMAND, PurchaseOption.SPOT)
    for burst, (count, requests) in BURSTS.items():
        gpu = bool(requests.gpu_count)
        types = sorted(
            name
            for name, itype in catalog.instance_types.items()
            if name != "serverless" and bool(itype.gpu_count) == gpu
        )
        pool_name = f"e2e-burst-{burst}"
        apply(kube, pool(pool_name, types, catalog))
        offerings = [
            o for o in catalog.offerings if o.option in bought and o.instance_type.name in types
        ]
        expected = twin_buys(offerings, count, requests)
        selector = {"tidewise.io/node-pool": pool_name}
        kube.create(pending_workload(burst, requests, selector, count), namespace=namespace)
        claims = claims_for_burst(kube, namespace, burst, pool_name, count)
        got = Counter(
            (
                c["metadata"]["labels"]["node.kubernetes.io/instance-type"],
                c["metadata"]["labels"]["karpenter.sh/capacity-type"],
            )
            for c in claims
        )
        print(f"burst {burst}: karpenter {dict(got)}, twin {dict(expected)}")
        assert got == expected, burst


def scenario_document() -> dict:
    return yaml.safe_load(default_scenario_path().read_text())


def rendered_names(document: dict, folder: Path) -> set[tuple[str, str]]:
    """(kind, name) of what the operator should keep applied for ``document`` with no
    covered instance running."""
    path = folder / "expected-scenario.yaml"
    path.write_text(yaml.safe_dump(document))
    scenario, base = load_scenario(path)
    return {
        (o["kind"], o["metadata"]["name"])
        for o in render(karpenter_policy(scenario, base, KWOK_CLASS))
    }


def managed_names(kube: Client) -> set[tuple[str, str]]:
    return {
        (kind.__name__, obj.metadata.name)
        for kind in (NodePool, NodeOverlay)
        for obj in kube.list(kind, labels=MANAGED_BY)
    }


def test_the_operator_keeps_karpenter_s_objects_current_as_the_shipped_service_account(
    kube, cluster, karpenter, tmp_path
):
    """``tidewise operator`` with ``nodes.engine: karpenter`` and the Karpenter component's
    RBAC alone: it applies the scenario's render server-side, Karpenter validates every
    overlay; once an on-demand m6i.xlarge runs (bought by Karpenter for a pod) the commitment
    overlay is deleted; restarted on a changed scenario, it updates the changed pool, deletes
    the pool the scenario dropped and applies the new one; each step told by an Event."""
    namespace = karpenter
    document = scenario_document()
    expected = rendered_names(document, tmp_path)
    assert ("NodeOverlay", COMMITMENT) in expected, "the bundled floor commits one m6i.xlarge"
    config = steering_config(tmp_path, document, "first")
    with steering_operator(cluster, kube, namespace, config) as process:
        wait_for("the render applied", lambda: managed_names(kube) == expected, deadline=90)
        for kind, name in expected:
            obj = kube.get(NodePool if kind == "NodePool" else NodeOverlay, name)
            assert (FIELD_MANAGER, "Apply") in managers(obj), name
            if kind == "NodeOverlay":
                wait_for(f"{name} validated", lambda name=name: overlay_applied(kube, name))
        wait_for("Events", lambda: events_about(kube, COMMITMENT) == ["Applied"])

        selector = {"tidewise.io/node-pool": "general", "karpenter.sh/capacity-type": "on-demand"}
        selector["node.kubernetes.io/instance-type"] = COMMITTED
        requests = Resources(cpu_milli=1000, memory_mib=2048)
        kube.create(pending_workload("covered", requests, selector), namespace=namespace)
        bought_for(kube, namespace, "covered", "general", set())
        wait_for(
            "the used-up commitment dropped",
            lambda: ("NodeOverlay", COMMITMENT) not in managed_names(kube),
            deadline=60,
        )
        wait_for("Events", lambda: events_about(kube, COMMITMENT) == ["Applied", "Deleted"])
        assert managed_names(kube) == expected - {("NodeOverlay", COMMITMENT)}
        assert process.poll() is None, "the operator died"

    changed = scenario_document()
    general, gpu = changed["node_pools"]
    general["instance_types"].remove("c6i.4xlarge")
    gpu["name"] = "accel"
    config = steering_config(tmp_path, changed, "second")
    with steering_operator(cluster, kube, namespace, config):

        def updated() -> bool:
            got = kube.get(NodePool, "general")["spec"]["template"]["spec"]["requirements"]
            types = next(r for r in got if r["key"] == "node.kubernetes.io/instance-type")
            return "c6i.4xlarge" not in types["values"]

        wait_for("the changed pool updated", updated, deadline=90)
        wait_for("the dropped pool deleted", lambda: ("NodePool", "gpu") not in managed_names(kube))
        assert ("NodePool", "accel") in managed_names(kube)
        assert ("NodeOverlay", COMMITMENT) not in managed_names(kube), "still covered"
        wait_for("Events", lambda: events_about(kube, "general") == ["Applied", "Updated"])
        wait_for("Events", lambda: events_about(kube, "gpu") == ["Applied", "Deleted"])
    log = (cluster.folder / "logs/operator-steering.log").read_text()
    assert "forbidden" not in log.lower(), "the shipped RBAC refused a call"
