"""Karpenter's node lifecycle with a default NodePool, as one controller: the twin's
``karpenter`` baseline (docs/karpenter-baseline.md).

Three loops of ``sigs.k8s.io/karpenter`` (v1.12.0) and its AWS provider, at their defaults:

* **Provisioning.** Pending pods that no booting node will take are batched until none
  arrived for ``batch_idle_s`` (1 s) or the batch is ``batch_max_s`` (10 s) old
  (``BATCH_IDLE_DURATION`` / ``BATCH_MAX_DURATION``), then simulated and launched
  (:mod:`tidewise.capacity.karpenter.scheduling`).
* **Interruption.** At a spot interruption notice the node is drained and deleted at once
  (its pods go pending and are provisioned for like any other), and its offering is
  unavailable for ``unavailable_ttl_s`` (the AWS provider's unavailable-offerings cache, 3
  minutes; launch failures are cached as long).
* **Disruption.** Every ``poll_s`` (10 s) a consolidation command is computed
  (:mod:`tidewise.capacity.karpenter.consolidation`), held ``validation_delay_s`` (15 s), and
  carried out if it still holds: deletions at once, replacements once the candidates' pods fit
  on Ready nodes (the replacement is up); dropped if the replacement fails to launch or is not
  up after ``replace_timeout_s``.

Pure: time comes from the view; the memories are explicit fields.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from tidewise.capacity.karpenter.consolidation import (
    Cluster,
    Command,
    DisruptionSettings,
    compute,
    consolidate,
)
from tidewise.capacity.karpenter.scheduling import (
    NOTHING_RESERVED,
    Catalog,
    launch_offering,
    simulate,
)
from tidewise.capacity.node_autoscaler import fits_elsewhere
from tidewise.capacity.provisioning import absorb_into_launching
from tidewise.capacity.spot_pools import SpotPoolRules
from tidewise.model import (
    ClusterView,
    Decision,
    Drain,
    Launch,
    Node,
    NodeState,
    PurchaseOption,
    Resources,
)


@dataclass(frozen=True, slots=True)
class KarpenterSettings:
    period_s: float = 1.0
    batch_idle_s: float = 1.0
    batch_max_s: float = 10.0
    poll_s: float = 10.0  # the disruption controller's pollingPeriod
    validation_delay_s: float = 15.0  # commandValidationDelay
    unavailable_ttl_s: float = 180.0  # the AWS provider's UnavailableOfferingsTTL
    replace_timeout_s: float = 600.0  # how long a replacement may take to come up
    kube_reserved: Resources = NOTHING_RESERVED  # the twin's nodes reserve nothing
    disruption: DisruptionSettings = field(default_factory=DisruptionSettings)


@dataclass
class _Batch:
    started_s: float
    last_pod_s: float
    pods: frozenset[str]


@dataclass
class Karpenter:
    """Provisioning, interruption handling and consolidation of one default NodePool that
    allows spot and on-demand (the module docstring)."""

    settings: KarpenterSettings = field(default_factory=KarpenterSettings)
    pools: SpotPoolRules = field(default_factory=SpotPoolRules)
    _batch: _Batch | None = field(default=None, init=False)
    _unavailable: dict[str, float] = field(default_factory=dict, init=False)
    _catalog: tuple[Hashable, Catalog | None] = field(default=(None, None), init=False)
    _events: dict[str, tuple[Hashable, float]] = field(default_factory=dict, init=False)
    _next_poll_s: float = field(default=0.0, init=False)
    _validating: tuple[Command, float] | None = field(default=None, init=False)
    _replacing: list[tuple[Command, float]] = field(default_factory=list, init=False)
    _consolidated: Hashable = field(default=None, init=False)

    @property
    def period_s(self) -> float | None:
        return self.settings.period_s

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        return self.step(view, batch=True)

    def rests(self, now_s: float) -> bool:
        """On a cluster unchanged since a tick that decided nothing (:class:`Resting`): no
        batch window is open, no replacement is waiting, no remembered unavailable offering
        runs out, and neither a command's validation nor the next consolidation poll is due.
        A poll itself is always decided: its answer depends on how long nodes have settled."""
        if self._batch is not None or self._replacing:
            return False
        if any(until <= now_s for until in self._unavailable.values()):
            return False
        due = self._next_poll_s if self._validating is None else self._validating[1]
        return now_s < due

    def step(self, view: ClusterView, batch: bool) -> list[Decision]:
        """One tick; ``batch=False`` provisions for every pending pod at once (a window
        that has closed)."""
        self._remember_unavailable(view)
        decisions: list[Decision] = self._interruptions(view)
        decisions += self._provision(view, batch)
        decisions += self._disrupt(view)
        return decisions

    # -- what may be bought --------------------------------------------------------------

    def _remember_unavailable(self, view: ClusterView) -> None:
        now = view.time_s
        for key in view.unavailable_offerings:
            if self._unavailable.get(key, -1.0) <= now:
                self._unavailable[key] = now + self.settings.unavailable_ttl_s
        self._unavailable = {k: t for k, t in self._unavailable.items() if t > now}

    def catalog(self, view: ClusterView) -> Catalog:
        unavailable = frozenset(self._unavailable)
        key = (view.offerings, unavailable)
        if self._catalog[0] != key or self._catalog[1] is None:
            built = Catalog.of(view.offerings, unavailable, self.settings.kube_reserved, self.pools)
            self._catalog = (key, built)
        catalog = self._catalog[1]
        assert catalog is not None
        return catalog

    # -- interruption --------------------------------------------------------------------

    def _interruptions(self, view: ClusterView) -> list[Decision]:
        drains: list[Decision] = []
        for node in view.nodes:
            if node.notice_s is None or node.state is not NodeState.CORDONED:
                continue
            if node.offering.option is PurchaseOption.SPOT:
                self._unavailable[node.offering.key] = view.time_s + self.settings.unavailable_ttl_s
            drains.append(Drain(node=node.name, reason="interruption notice"))
        return drains

    # -- provisioning --------------------------------------------------------------------

    def _provision(self, view: ClusterView, batch: bool) -> list[Decision]:
        if not any(s.pending for s in view.workloads):
            self._batch = None
            return []
        left = absorb_into_launching(view.pending_pods(), view.nodes)
        if not left:
            self._batch = None
            return []
        now = view.time_s
        names = frozenset(p.name for p in left)
        if self._batch is None:
            self._batch = _Batch(now, now, names)
        elif names - self._batch.pods:
            self._batch = _Batch(self._batch.started_s, now, self._batch.pods | names)
        window = self._batch
        if batch and (
            now - window.last_pod_s < self.settings.batch_idle_s
            and now - window.started_s < self.settings.batch_max_s
        ):
            return []
        self._batch = None
        catalog = self.catalog(view)
        launches: list[Decision] = []
        for claim in simulate(left, [], catalog).claims:
            offering = launch_offering(claim.offerings(catalog), self.pools)
            if offering is not None:
                launches.append(Launch(offering=offering))
        return launches

    # -- disruption ----------------------------------------------------------------------

    def _disrupt(self, view: ClusterView) -> list[Decision]:
        decisions = self._finish_replacements(view)
        now = view.time_s
        if self._validating is not None:
            command, due = self._validating
            if now < due:
                return decisions
            self._validating = None
            self._next_poll_s = now  # Karpenter requeues at once after a command
            return decisions + self._carry_out(view, command)
        if now < self._next_poll_s:
            return decisions
        self._next_poll_s = now + self.settings.poll_s
        cluster = self._cluster(view)
        state = _state_key(view, cluster, frozenset(self._unavailable))
        if state == self._consolidated:
            return decisions  # nothing changed since nothing could be done (IsConsolidated)
        found = consolidate(cluster, self.settings.disruption)
        if found is None:
            self._consolidated = state
            return decisions
        self._validating = (found, now + self.settings.validation_delay_s)
        return decisions

    def _marked(self) -> frozenset[str]:
        return frozenset(name for command, _ in self._replacing for name in command.candidates)

    def _cluster(self, view: ClusterView) -> Cluster:
        """The poll's input; also notes each node's last pod event (``consolidateAfter``)."""
        now = view.time_s
        events: dict[str, tuple[Hashable, float]] = {}
        for node in view.nodes:
            if node.state is NodeState.LAUNCHING:
                continue
            signature = (node.pod_count, node.allocated_cpu_milli, node.allocated_memory_mib)
            seen = self._events.get(node.name)
            since = node.ready_s if node.ready_s is not None else node.launched_s
            if seen is not None:
                since = seen[1] if seen[0] == signature else now
            events[node.name] = (signature, since)
        self._events = events
        after = self.settings.disruption.consolidate_after_s
        settled = frozenset(name for name, (_, since) in events.items() if now - since >= after)
        return Cluster(view, self._marked(), settled, self.catalog(view))

    def _carry_out(self, view: ClusterView, command: Command) -> list[Decision]:
        """Validation: the command still holds after the delay, else it is dropped."""
        cluster = self._cluster(view)
        live = {n.name: n for n in view.nodes}
        nodes = [live.get(name) for name in command.candidates]
        present = [n for n in nodes if n is not None and n.name not in cluster.marked]
        if len(present) != len(nodes) or any(n.name not in cluster.settled for n in present):
            return []
        if command.method == "empty":
            if any(n.pod_count for n in present):
                return []
            return [Drain(node=n.name, reason="karpenter: empty") for n in present]
        again = compute(cluster, present, command.method, command.method == "multi-node")
        if again is None or again.replaces != command.replaces:
            return []
        if again.replacement is None:
            return [Drain(node=n.name, reason=f"karpenter: {again.method}") for n in present]
        self._replacing.append((again, view.time_s))
        return [Launch(offering=again.replacement)]

    def _finish_replacements(self, view: ClusterView) -> list[Decision]:
        """Delete the candidates of a replacement once their pods fit on Ready nodes."""
        live = {n.name: n for n in view.nodes}
        marked = self._marked()
        ready = [n for n in view.nodes if n.state is NodeState.READY and n.name not in marked]
        decisions: list[Decision] = []
        waiting = []
        for command, since in self._replacing:
            nodes: list[Node] = [live[name] for name in command.candidates if name in live]
            if not nodes or view.time_s - since > self.settings.replace_timeout_s:
                continue
            if command.replacement is not None and command.replacement.key in self._unavailable:
                continue  # the replacement failed to launch: the command fails, nodes stay
            names = {n.name for n in nodes}
            pods = [p for p in view.pods if p.node in names]
            if fits_elsewhere(pods, ready):
                decisions += [
                    Drain(node=n.name, reason=f"karpenter: {command.method} replaced")
                    for n in nodes
                ]
            else:
                waiting.append((command, since))
        self._replacing = waiting
        return decisions


def _state_key(view: ClusterView, cluster: Cluster, unavailable: frozenset[str]) -> Hashable:
    """What a poll's answer depends on (Karpenter's consolidation state): while it is the same
    as at the last poll that found nothing, the answer is still nothing."""
    nodes = tuple(
        (n.name, n.state, n.pod_count, n.allocated_cpu_milli, n.allocated_memory_mib)
        for n in view.nodes
    )
    pending = sum(s.pending for s in view.workloads)
    return nodes, pending, cluster.marked, cluster.settled, unavailable
