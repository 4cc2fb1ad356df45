"""The operator's faults, injected on the real control plane while ``tidewise operator`` runs
as its own process under the shipped ServiceAccount (issue 16). Each test injects one fault
and then checks the outcome the way an on-call engineer would: every replica running, every
machine bought accounted for (a Machine record for each node, a node for each record, none
bought twice), nothing the fault should not have moved (a reclaim deadline, a drain's
deadline), and the process still alive.

* the API server goes away while a machine boots;
* the leader is paused past its Lease (alive, not dead) while a standby takes over;
* another replica's clock is an hour off, both ways (played by the test: its writes carry a
  renewTime an hour behind, then an hour ahead);
* the operator is killed between an interruption notice and its drain;
* the operator is killed in the middle of a drain that a PodDisruptionBudget blocks.
"""

import contextlib
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.models.policy_v1 import PodDisruptionBudgetSpec
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Event, Node, Pod
from lightkube.resources.policy_v1 import PodDisruptionBudget

from tests.kube.controllers.support import http_get
from tests.kube.kwok import (
    Poller,
    available,
    deployment,
    lease_holder,
    operator_process,
    wait_for,
)
from tidewise.kube.api.lease import LEASE_NAME
from tidewise.kube.provider.drain import DRAINING, DRAINING_SINCE
from tidewise.kube.provider.interface import PROVISIONER
from tidewise.kube.provider.kwok import INTERRUPTION_DEADLINE, SIMULATED_INTERRUPTION
from tidewise.kube.provider.loop import REPLACED
from tidewise.kube.provider.machines import Machine
from tidewise.testenv import Cluster, start_component, stop_component
from tidewise.testenv.cluster import free_ports

pytestmark = pytest.mark.e2e

KWOK = {PROVISIONER: "kwok"}
REPLICAS = 3  # one m6i.large holds three 600m pods
LEASE_S = 6  # operator_process's --lease-duration


def node_names(kube: Client) -> set[str]:
    return {n.metadata.name for n in kube.list(Node, labels=KWOK)}


def machine_names(kube: Client) -> set[str]:
    return {m.metadata.name for m in kube.list(Machine)}


def metric(base: str, sample: str) -> float:
    """One sample of the operator's /metrics (0 when absent)."""
    for line in http_get(f"{base}/metrics")[1].splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class NodesSeen(Poller):
    """Every kwok machine and node name seen while the block runs (listed every 0.2 s): a
    machine bought twice shows here even if it was given back before the end; and every
    reclaim deadline each node was seen to carry."""

    def __init__(self, kube: Client) -> None:
        super().__init__()
        self.kube = kube
        self.names: set[str] = set()
        self.deadlines: dict[str, set[str]] = {}

    def look(self) -> None:
        with contextlib.suppress(Exception):  # the API server may be the fault under test
            self.names |= machine_names(self.kube)
            for node in self.kube.list(Node, labels=KWOK):
                self.names.add(node.metadata.name)
                deadline = (node.metadata.annotations or {}).get(INTERRUPTION_DEADLINE)
                if deadline:
                    self.deadlines.setdefault(node.metadata.name, set()).add(deadline)


def settled(kube: Client, namespace: str, replicas: int) -> None:
    """Every replica running, and the books agree: a record for each node and back."""
    wait_for("every replica running", lambda: available(kube, namespace) == replicas, 180)
    wait_for("records and nodes agree", lambda: machine_names(kube) == node_names(kube), 60)
    assert all(p.status.phase == "Running" for p in kube.list(Pod, namespace=namespace))


def test_an_api_server_outage_while_a_machine_boots_buys_it_once(
    cluster: Cluster, kube: Client, provisioned: str
):
    namespace = provisioned
    port = free_ports(("operator",))["operator"]
    base = f"http://127.0.0.1:{port}"
    # boots take 8 s, so the outage starts with the machine recorded and no Node yet
    with operator_process(cluster, kube, namespace, "booting", port, "--boot-delay", "8") as op:
        wait_for("the Lease held", lambda: lease_holder(kube, namespace) == "booting")
        with NodesSeen(kube) as seen:
            kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
            wait_for("a machine recorded", lambda: bool(machine_names(kube)), deadline=60)
            assert not node_names(kube), "the machine registered before the outage"
            stop_component(cluster.folder, "kube-apiserver")
            time.sleep(12)  # the boot ends, and the Lease expires, while the API is away
            start_component(cluster.folder, "kube-apiserver")
            settled(kube, namespace, REPLICAS)
        assert op.poll() is None, "the operator died"
        assert metric(base, 'tidewise_errors_total{where="lease"}') > 0, "the outage went unseen"
        assert len(node_names(kube)) == 1
        # the machine that was booting is the one running, or it was given up as failed
        # (its record and its node both gone) and one other bought
        assert len(seen.names) <= 2, f"machines bought: {sorted(seen.names)}"
        print(f"machines seen: {len(seen.names)}, nodes left: {len(node_names(kube))}")


def test_a_leader_paused_past_its_lease_steps_down_alive_and_buys_nothing_twice(
    cluster: Cluster, kube: Client, provisioned: str
):
    namespace = provisioned
    ports = free_ports(("first", "second"))
    bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with (
        operator_process(cluster, kube, namespace, "first", ports["first"]) as first,
        NodesSeen(kube) as seen,
    ):
        wait_for("first leading", lambda: lease_holder(kube, namespace) == "first")
        kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
        settled(kube, namespace, REPLICAS)
        with operator_process(cluster, kube, namespace, "second", ports["second"]) as second:
            wait_for("second up", lambda: http_get(f"{bases['second']}/healthz")[0] == 200)
            first.send_signal(signal.SIGSTOP)  # a long GC pause, a frozen VM: alive, silent
            paused = time.monotonic()
            wait_for("second leading", lambda: lease_holder(kube, namespace) == "second")
            print(f"second leading {time.monotonic() - paused:.1f} s after the pause")
            kube.patch(Deployment, "web", {"spec": {"replicas": 2 * REPLICAS}}, namespace=namespace)
            first.send_signal(signal.SIGCONT)  # it wakes believing it leads
            settled(kube, namespace, 2 * REPLICAS)
            lost = 'tidewise_leadership_changes_total{change="lost"}'
            wait_for("first stepped down", lambda: metric(bases["first"], lost) == 1)
            assert metric(bases["first"], "tidewise_leader") == 0
            assert http_get(f"{bases['first']}/healthz")[0] == 200, "a standby is healthy"
            assert lease_holder(kube, namespace) == "second"
            assert first.poll() is None and second.poll() is None
        assert len(node_names(kube)) == 2 and len(seen.names) == 2, sorted(seen.names)


def skewed_renewal(kube: Client, namespace: str, holder: str, skew_s: float) -> None:
    """Write the Lease as a replica whose clock is ``skew_s`` off would renew it."""
    now = datetime.now(UTC) + timedelta(seconds=skew_s)
    spec = {"holderIdentity": holder, "leaseDurationSeconds": LEASE_S}
    spec |= {"renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}
    body |= {"metadata": {"name": LEASE_NAME, "namespace": namespace}, "spec": spec}
    kube.apply(Lease.from_dict(body), field_manager="skewed-replica", force=True)


def test_another_replica_an_hour_off_neither_doubles_the_leader_nor_holds_the_lease(
    cluster: Cluster, kube: Client, provisioned: str
):
    namespace = provisioned
    port = free_ports(("operator",))["operator"]
    base = f"http://127.0.0.1:{port}"
    kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
    skewed_renewal(kube, namespace, "behind", -3600)
    with operator_process(cluster, kube, namespace, "honest", port):
        wait_for("/healthz", lambda: http_get(f"{base}/healthz")[0] == 200, deadline=60)
        # "behind" renews every second with a renewTime an hour old: judged by renewTime it
        # expired long ago; judged by change, as client-go does, it is held
        end = time.monotonic() + 3 * LEASE_S
        while time.monotonic() < end:
            skewed_renewal(kube, namespace, "behind", -3600)
            time.sleep(1)
        assert lease_holder(kube, namespace) == "behind"
        assert metric(base, "tidewise_leader") == 0
        assert not node_names(kube) and not machine_names(kube), "a standby bought a machine"
        # its last renewal says an hour ahead, then it stops: judged by renewTime it is held
        # for an hour; judged by change, it expires one Lease duration from now
        skewed_renewal(kube, namespace, "ahead", 3600)
        stopped = time.monotonic()
        wait_for("honest leading", lambda: lease_holder(kube, namespace) == "honest", 60)
        took = time.monotonic() - stopped
        assert took < LEASE_S + 2 + 5, f"took {took:.1f} s for a {LEASE_S} s Lease"
        print(f"honest leading {took:.1f} s after the last skewed renewal")
        settled(kube, namespace, REPLICAS)
        assert len(node_names(kube)) == 1


def test_an_operator_killed_between_a_notice_and_its_drain_replaces_once_on_time(
    cluster: Cluster, kube: Client, provisioned: str
):
    namespace = provisioned
    port = free_ports(("operator",))["operator"]
    slow = ("--boot-delay", "8")  # the replacement boots while the operator is down
    with operator_process(cluster, kube, namespace, "op", port, *slow) as op:
        kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
        settled(kube, namespace, REPLICAS)
    (noticed,) = node_names(kube)
    with NodesSeen(kube) as seen:
        with operator_process(cluster, kube, namespace, "op", port, *slow) as op:
            patch = {"metadata": {"annotations": {SIMULATED_INTERRUPTION: "120"}}}
            kube.patch(Node, noticed, patch)

            def annotations() -> dict[str, str]:
                return kube.get(Node, noticed).metadata.annotations or {}

            wait_for("the replacement decided", lambda: REPLACED in annotations(), 60)
            op.kill()  # before the replacement is Ready, so before any drain
            op.wait()
        decided = annotations()
        assert DRAINING not in decided, "the drain began before the kill"
        with operator_process(cluster, kube, namespace, "op", port, *slow) as op:
            wait_for("the noticed node gone", lambda: noticed not in node_names(kube), 120)
            settled(kube, namespace, REPLICAS)
            assert op.poll() is None
    (replacement,) = node_names(kube)
    assert seen.names == {noticed, replacement}, f"bought: {sorted(seen.names - {noticed})}"
    # the reclaim's deadline was written once, at the notice: the restart did not move it
    assert seen.deadlines[noticed] == {decided[INTERRUPTION_DEADLINE]}
    print(f"machines seen: {sorted(seen.names)}, deadlines: {seen.deadlines[noticed]}")
    told = kube.list(Event, namespace="default", fields={"involvedObject.name": noticed})
    assert "InterruptionNotice" in {e.reason for e in told}


def blocking_budget() -> PodDisruptionBudget:
    """No replica of ``web`` may be evicted."""
    spec = PodDisruptionBudgetSpec(
        maxUnavailable=0, selector=LabelSelector(matchLabels={"app": "web"})
    )
    return PodDisruptionBudget(metadata=ObjectMeta(name="web"), spec=spec)


def test_an_operator_killed_mid_drain_blocked_by_a_budget_forces_it_at_the_first_deadline(
    cluster: Cluster, kube: Client, provisioned: str, tmp_path: Path
):
    namespace = provisioned
    port = free_ports(("operator",))["operator"]
    base = f"http://127.0.0.1:{port}"
    timeout_s = 24.0
    config = tmp_path / "operator.yaml"
    config.write_text(yaml.safe_dump({"provisioner": {"drain_timeout_s": timeout_s}}))
    options = ("--config", str(config))
    with operator_process(cluster, kube, namespace, "op", port, *options):
        kube.create(deployment(REPLICAS, KWOK), namespace=namespace)
        settled(kube, namespace, REPLICAS)
        kube.create(blocking_budget(), namespace=namespace)
        (noticed,) = node_names(kube)
        # a reclaim well after the drain's own deadline: the drain's deadline is what forces
        patch = {"metadata": {"annotations": {SIMULATED_INTERRUPTION: "600"}}}
        kube.patch(Node, noticed, patch)

        def annotations() -> dict[str, str]:
            return kube.get(Node, noticed).metadata.annotations or {}

        wait_for("the drain begun", lambda: DRAINING_SINCE in annotations(), 90)
        refused = 'tidewise_evictions_total{outcome="refused"}'
        wait_for("an eviction refused", lambda: metric(base, refused) > 0, 30)
        time.sleep(4)  # well into the drain
    since = annotations()[DRAINING_SINCE]
    begun = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
    assert time.time() - begun < timeout_s - 8, "the kill came too late to tell"
    assert available(kube, namespace) == REPLICAS, "the budget was not held"
    with operator_process(cluster, kube, namespace, "op", port, *options) as op:
        wait_for("leading again", lambda: metric(base, "tidewise_leader") == 1, 60)
        led = time.time()
        assert annotations().get(DRAINING_SINCE) == since
        wait_for("the noticed node gone", lambda: noticed not in node_names(kube), 120)
        gone = time.time()
        assert metric(base, 'tidewise_drains_total{outcome="forced"}') == 1
        settled(kube, namespace, REPLICAS)
        assert op.poll() is None
    # forced at the first start's deadline (not a fresh one from the restart), not before it
    assert gone - begun >= timeout_s - 1, f"forced {gone - begun:.1f} s into a {timeout_s} s drain"
    # a deadline restarted by the new process could not pass before led + timeout_s; the
    # first start's passes (led - begun) earlier, less the loop's latency in forcing it
    assert gone < led + timeout_s, "the restart started the deadline again"
    print(f"led again {led - begun:.1f} s, node gone {gone - begun:.1f} s into the drain")
    told = kube.list(Event, namespace="default", fields={"involvedObject.name": noticed})
    assert "DrainForced" in {e.reason for e in told}
    assert kube.get(PodDisruptionBudget, "web", namespace=namespace)
